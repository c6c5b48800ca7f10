package campaigns

// Layout is how an email looks around and within its content: a logo
// above it, the brand colour of the top bar and the links, the button
// style, a line of footer text and the font. A programme declares one; a
// sequence may override any field of it for its own email.
type Layout struct {
	Logo *Logo `json:"logo,omitempty"`
	// Colours are hex colours, "#1d4ed8".
	Brand      string `json:"brand_colour,omitempty"`
	Background string `json:"background_colour,omitempty"`
	Text       string `json:"text_colour,omitempty"`
	Link       string `json:"link_colour,omitempty"`
	Button     Button `json:"button"`
	// Footer is a line of plain text above the postal address.
	Footer string `json:"footer,omitempty"`
	// Font is a CSS font-family list.
	Font string `json:"font,omitempty"`
}

// Logo is an image shown above the content.
type Logo struct {
	URL   string `json:"url"`
	Alt   string `json:"alt,omitempty"`
	Width int    `json:"width,omitempty"`
	// Href is where a click on the logo leads, if anywhere.
	Href string `json:"href,omitempty"`
}

// Button is the style of the buttons an email's Markdown writes as
// [[label]](url).
type Button struct {
	Colour     string `json:"colour,omitempty"`
	TextColour string `json:"text_colour,omitempty"`
	// Shape is ShapeRounded, ShapeSquare or ShapePill.
	Shape string `json:"shape,omitempty"`
}

// Button shapes.
const (
	ShapeRounded = "rounded"
	ShapeSquare  = "square"
	ShapePill    = "pill"
)

// The look of an email whose programme declares no layout.
const (
	DefaultBrand      = "#1d4ed8"
	DefaultBackground = "#f3f4f6"
	DefaultText       = "#1f2937"
	DefaultFont       = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
)

// Over is l with the fields o sets replacing its own: a sequence's
// layout over the programme's. Either may be nil.
func (l *Layout) Over(o *Layout) *Layout {
	switch {
	case o == nil:
		return l
	case l == nil:
		return o
	}
	r := *l
	if o.Logo != nil {
		r.Logo = o.Logo
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&r.Brand, o.Brand)
	set(&r.Background, o.Background)
	set(&r.Text, o.Text)
	set(&r.Link, o.Link)
	set(&r.Button.Colour, o.Button.Colour)
	set(&r.Button.TextColour, o.Button.TextColour)
	set(&r.Button.Shape, o.Button.Shape)
	set(&r.Footer, o.Footer)
	set(&r.Font, o.Font)
	return &r
}

// Resolved is l with every colour, the shape and the font filled in: a
// colour left out follows the brand colour or the default.
func (l *Layout) Resolved() Layout {
	var r Layout
	if l != nil {
		r = *l
	}
	or := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	or(&r.Brand, DefaultBrand)
	or(&r.Background, DefaultBackground)
	or(&r.Text, DefaultText)
	or(&r.Link, r.Brand)
	or(&r.Button.Colour, r.Brand)
	or(&r.Button.TextColour, "#ffffff")
	or(&r.Button.Shape, ShapeRounded)
	or(&r.Font, DefaultFont)
	return r
}

// Radius is the CSS border radius of a button of the shape.
func (b Button) Radius() string {
	switch b.Shape {
	case ShapeSquare:
		return "0"
	case ShapePill:
		return "999px"
	}
	return "6px"
}
