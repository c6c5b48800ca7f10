package sample

// The word lists the generator draws from. They are fixed data: changing
// one changes every generated file, so append rather than reorder when a
// shipped example's data must stay as it is.

// nameGroup is a set of first and last names that go together, so a
// contact in Germany is more often Jonas Weber than Jonas Tanaka.
type nameGroup struct {
	first, last []string
}

// Name groups, indexed by the group constants below.
const (
	gAnglo = iota
	gGerman
	gFrench
	gDutch
	gNordic
	gSouthern
	gIndian
	gEastAsian
	gCentral
	numGroups
)

var nameGroups = [numGroups]nameGroup{
	gAnglo: {
		first: []string{"James", "Emily", "Michael", "Sarah", "David", "Jessica", "Daniel", "Laura", "Ryan", "Megan",
			"Chris", "Rachel", "Kevin", "Hannah", "Brian", "Olivia", "Tyler", "Amanda", "Sean", "Natalie",
			"Grace", "Marcus", "Claire", "Aidan", "Fiona"},
		last: []string{"Smith", "Johnson", "Williams", "Brown", "Taylor", "Anderson", "Thompson", "Walker", "Harris", "Clarke",
			"Robinson", "Wright", "Mitchell", "Carter", "Bennett", "Hughes", "Murphy", "Kelly", "Foster", "Reed",
			"O'Brien", "Campbell", "Sullivan", "Hayes", "Coleman"},
	},
	gGerman: {
		first: []string{"Lukas", "Anna", "Felix", "Lena", "Jonas", "Katrin", "Matthias", "Julia", "Stefan", "Sabine", "Tobias", "Miriam"},
		last:  []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Wagner", "Schulz", "Koch", "Richter", "Krüger"},
	},
	gFrench: {
		first: []string{"Camille", "Julien", "Léa", "Thomas", "Manon", "Nicolas", "Chloé", "Antoine", "Élodie", "Mathieu"},
		last:  []string{"Martin", "Bernard", "Dubois", "Laurent", "Lefèvre", "Moreau", "Girard", "Fontaine", "Rousseau", "Mercier"},
	},
	gDutch: {
		first: []string{"Daan", "Sanne", "Thijs", "Lotte", "Bram", "Fleur", "Joost", "Anouk"},
		last:  []string{"de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "de Boer", "van den Berg"},
	},
	gNordic: {
		first: []string{"Erik", "Ingrid", "Lars", "Astrid", "Mikael", "Sofia", "Henrik", "Freja"},
		last:  []string{"Andersson", "Johansson", "Lindqvist", "Nielsen", "Hansen", "Berg", "Virtanen", "Solberg"},
	},
	gSouthern: {
		first: []string{"Alejandro", "Lucía", "Marco", "Giulia", "João", "Inês", "Carlos", "Sofía", "Matteo", "Beatriz"},
		last:  []string{"García", "Rodríguez", "Fernández", "Rossi", "Bianchi", "Ferreira", "Silva", "Costa", "Romano", "Moreno"},
	},
	gIndian: {
		first: []string{"Priya", "Arjun", "Ananya", "Rahul", "Kavya", "Vikram", "Neha", "Rohan"},
		last:  []string{"Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Menon", "Rao"},
	},
	gEastAsian: {
		first: []string{"Yuki", "Haruto", "Mei", "Wei", "Ji-woo", "Min-jun", "Sakura", "Kenji"},
		last:  []string{"Tanaka", "Sato", "Suzuki", "Chen", "Wang", "Lim", "Tan", "Kim"},
	},
	gCentral: {
		first: []string{"Katarzyna", "Piotr", "Agnieszka", "Tomasz", "Marta", "Jakub"},
		last:  []string{"Nowak", "Kaczmarek", "Wójcik", "Mazur", "Krawczyk", "Dudek"},
	},
}

// Regions a country belongs to, matched against the values of a region
// enum (see regionSynonyms).
const (
	rNA = iota
	rEMEA
	rAPAC
	rLATAM
)

// regionSynonyms are enum values that name each region, lower case.
var regionSynonyms = [...][]string{
	rNA:    {"north_america", "northamerica", "north-america", "na", "namer", "amer", "americas", "us_canada", "us"},
	rEMEA:  {"emea", "europe", "eu", "uk_europe", "uk_ie_eu"},
	rAPAC:  {"apac", "asia_pacific", "asiapacific", "asia", "anz"},
	rLATAM: {"latam", "latin_america", "south_america", "americas"},
}

// regionNames are how a region is written in a string attribute.
var regionNames = [...]string{rNA: "North America", rEMEA: "EMEA", rAPAC: "APAC", rLATAM: "LATAM"}

type zone struct {
	name   string
	offset int // minutes east of UTC, standard time; DST is ignored on purpose
	weight float64
}

// country is one ISO 3166-1 alpha-2 code with how often B2B contacts come
// from it, its time zones, region, calling code and a few cities.
type country struct {
	code   string
	name   string
	weight float64
	group  int
	region int
	zones  []zone
	phone  string
	cities []string
}

var countries = []country{
	{"US", "United States", 34, gAnglo, rNA, []zone{{"America/New_York", -300, 45}, {"America/Chicago", -360, 28}, {"America/Denver", -420, 7}, {"America/Los_Angeles", -480, 20}}, "+1", []string{"New York", "Chicago", "Austin", "San Francisco", "Boston", "Atlanta", "Denver", "Seattle"}},
	{"GB", "United Kingdom", 10, gAnglo, rEMEA, []zone{{"Europe/London", 0, 1}}, "+44", []string{"London", "Manchester", "Birmingham", "Leeds", "Bristol"}},
	{"DE", "Germany", 8, gGerman, rEMEA, []zone{{"Europe/Berlin", 60, 1}}, "+49", []string{"Berlin", "Munich", "Hamburg", "Frankfurt", "Stuttgart"}},
	{"FR", "France", 6, gFrench, rEMEA, []zone{{"Europe/Paris", 60, 1}}, "+33", []string{"Paris", "Lyon", "Toulouse", "Lille"}},
	{"CA", "Canada", 5, gAnglo, rNA, []zone{{"America/Toronto", -300, 60}, {"America/Vancouver", -480, 25}, {"America/Edmonton", -420, 15}}, "+1", []string{"Toronto", "Vancouver", "Montreal", "Calgary"}},
	{"NL", "Netherlands", 5, gDutch, rEMEA, []zone{{"Europe/Amsterdam", 60, 1}}, "+31", []string{"Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"}},
	{"AU", "Australia", 3, gAnglo, rAPAC, []zone{{"Australia/Sydney", 600, 60}, {"Australia/Melbourne", 600, 40}}, "+61", []string{"Sydney", "Melbourne", "Brisbane"}},
	{"SE", "Sweden", 3, gNordic, rEMEA, []zone{{"Europe/Stockholm", 60, 1}}, "+46", []string{"Stockholm", "Gothenburg", "Malmö"}},
	{"ES", "Spain", 3, gSouthern, rEMEA, []zone{{"Europe/Madrid", 60, 1}}, "+34", []string{"Madrid", "Barcelona", "Valencia"}},
	{"IN", "India", 3, gIndian, rAPAC, []zone{{"Asia/Kolkata", 330, 1}}, "+91", []string{"Bengaluru", "Mumbai", "Pune", "Hyderabad"}},
	{"IE", "Ireland", 2, gAnglo, rEMEA, []zone{{"Europe/Dublin", 0, 1}}, "+353", []string{"Dublin", "Cork", "Galway"}},
	{"CH", "Switzerland", 2, gGerman, rEMEA, []zone{{"Europe/Zurich", 60, 1}}, "+41", []string{"Zurich", "Basel", "Geneva"}},
	{"IT", "Italy", 2.5, gSouthern, rEMEA, []zone{{"Europe/Rome", 60, 1}}, "+39", []string{"Milan", "Turin", "Bologna", "Rome"}},
	{"BE", "Belgium", 2, gDutch, rEMEA, []zone{{"Europe/Brussels", 60, 1}}, "+32", []string{"Brussels", "Antwerp", "Ghent"}},
	{"PL", "Poland", 2, gCentral, rEMEA, []zone{{"Europe/Warsaw", 60, 1}}, "+48", []string{"Warsaw", "Kraków", "Wrocław", "Gdańsk"}},
	{"BR", "Brazil", 2, gSouthern, rLATAM, []zone{{"America/Sao_Paulo", -180, 1}}, "+55", []string{"São Paulo", "Rio de Janeiro", "Curitiba"}},
	{"DK", "Denmark", 1.5, gNordic, rEMEA, []zone{{"Europe/Copenhagen", 60, 1}}, "+45", []string{"Copenhagen", "Aarhus"}},
	{"NO", "Norway", 1.5, gNordic, rEMEA, []zone{{"Europe/Oslo", 60, 1}}, "+47", []string{"Oslo", "Bergen", "Stavanger"}},
	{"SG", "Singapore", 1.5, gEastAsian, rAPAC, []zone{{"Asia/Singapore", 480, 1}}, "+65", []string{"Singapore"}},
	{"JP", "Japan", 1.5, gEastAsian, rAPAC, []zone{{"Asia/Tokyo", 540, 1}}, "+81", []string{"Tokyo", "Osaka", "Nagoya"}},
	{"FI", "Finland", 1, gNordic, rEMEA, []zone{{"Europe/Helsinki", 120, 1}}, "+358", []string{"Helsinki", "Espoo", "Tampere"}},
	{"AT", "Austria", 1, gGerman, rEMEA, []zone{{"Europe/Vienna", 60, 1}}, "+43", []string{"Vienna", "Graz", "Linz"}},
	{"PT", "Portugal", 1, gSouthern, rEMEA, []zone{{"Europe/Lisbon", 0, 1}}, "+351", []string{"Lisbon", "Porto"}},
	{"MX", "Mexico", 1, gSouthern, rLATAM, []zone{{"America/Mexico_City", -360, 1}}, "+52", []string{"Mexico City", "Monterrey", "Guadalajara"}},
	{"NZ", "New Zealand", 0.5, gAnglo, rAPAC, []zone{{"Pacific/Auckland", 720, 1}}, "+64", []string{"Auckland", "Wellington"}},
}

// companyPrefixes are the first word of generated company names. None is
// a sender or a competitor in the shipped examples.
var companyPrefixes = []string{
	"Brightwave", "Halcyon", "Northgate", "Ironbark", "Bluestone", "Crescent", "Silverline", "Redwood", "Keystone", "Harborview",
	"Ashford", "Blackthorn", "Cobalt", "Copperleaf", "Driftwood", "Eastbrook", "Elmstead", "Evergreen", "Fairhaven", "Falconridge",
	"Foxglove", "Glasswing", "Granite", "Greyfield", "Hawthorne", "Highmark", "Hollowell", "Juniper", "Kestrel", "Lakeshore",
	"Larkspur", "Lumen", "Maplewood", "Marlow", "Mistral", "Moorland", "Nimbus", "Oakridge", "Orion", "Palisade",
	"Pinecrest", "Quarry", "Quillon", "Radiant", "Ravenstone", "Ridgeline", "Riverbend", "Saltmarsh", "Sandpiper", "Sapphire",
	"Seabright", "Sterling", "Stonebridge", "Summit", "Tamarack", "Thornbury", "Tidewater", "Trailhead", "Twin Peaks", "Valeport",
	"Vantage", "Verdant", "Westbrook", "Whitcombe", "Wildflower", "Willowby", "Windmere", "Wrenfield", "Yarrow", "Zephyr",
	"Alder", "Amberly", "Anvil", "Arcadia", "Aspen", "Beacon", "Bramble", "Cascade", "Cedar", "Clearwater",
	"Cloudberry", "Coral", "Dovetail", "Elara", "Fernhill", "Galecrest", "Goldcrest", "Heron", "Indigo", "Kingfisher",
	"Lindenhall", "Meadowlark", "Northstar", "Obsidian", "Pembrook", "Quartz", "Rosemont", "Skylark", "Solstice", "Thistle",
}

// industrySuffixes give company names that fit the industry: an industry
// value containing one of keys (or, for keys under four letters, equal to
// it) takes the suffixes. The first match wins, so fintech comes before
// anything matching "tech".
var industrySuffixes = []struct {
	keys     []string
	suffixes []string
}{
	{[]string{"fintech", "finan", "bank", "insur", "payment"}, []string{"Pay", "Capital", "Financial", "Ledger", "Payments", "Finance", "Money"}},
	{[]string{"saas", "software", "tech", "it", "cloud"}, []string{"Software", "Labs", "Cloud", "Technologies", "Systems", "Digital", "AI", "Data"}},
	{[]string{"ecommerce", "commerce", "retail", "consumer", "cpg"}, []string{"Commerce", "Goods", "Outfitters", "Supply Co.", "Market", "Retail", "Brands"}},
	{[]string{"health", "medic", "pharma", "bio", "care", "life_sci"}, []string{"Health", "Medical", "Care", "Diagnostics", "Clinics", "Therapeutics", "Biosciences"}},
	{[]string{"automotive", "auto", "mobility"}, []string{"Automotive", "Motors", "Drivetrain", "Auto Components", "Mobility"}},
	{[]string{"cold", "frozen", "refrig"}, []string{"Cold Storage", "Cold Chain", "Refrigerated Logistics", "Frozen Foods", "Cold Freight"}},
	{[]string{"logistic", "freight", "transport", "shipping", "supply"}, []string{"Logistics", "Freight", "Transport", "Haulage", "Distribution", "Shipping"}},
	{[]string{"process", "chemical", "material"}, []string{"Chemicals", "Polymers", "Materials", "Foods", "Process Industries", "Coatings"}},
	{[]string{"manufactur", "industrial", "discrete"}, []string{"Manufacturing", "Castings", "Precision", "Industries", "Machining", "Components", "Fabrication", "Tooling"}},
	{[]string{"energy", "utilit", "oil", "power"}, []string{"Energy", "Power", "Utilities", "Renewables"}},
	{[]string{"educat", "edu", "school"}, []string{"Learning", "Academy", "Education"}},
	{[]string{"media", "agency", "publish"}, []string{"Media", "Studio", "Agency", "Creative"}},
}

var defaultSuffixes = []string{"Group", "Partners", "Holdings", "Solutions", "Consulting", "Services", "Systems", "Industries"}

// industryNames are written into a string-typed industry attribute.
var industryNames = []string{"Software", "Financial Services", "Retail", "Healthcare", "Manufacturing", "Logistics", "Professional Services", "Media", "Energy", "Education"}

// roleTitles are job titles that fit a role enum value (persona, buying
// committee role, …): a value containing one of keys takes the titles.
// The first match wins, so technical evaluators come before engineers.
var roleTitles = []struct {
	keys   []string
	titles []string
}{
	{[]string{"data_lead", "data_leader", "head_of_data", "data_exec"}, []string{"Head of Data", "Director of Analytics", "VP Data & Analytics", "Chief Data Officer", "Head of Business Intelligence", "Director of Data Engineering", "Analytics Manager"}},
	{[]string{"analyst"}, []string{"Data Analyst", "Senior Data Analyst", "BI Analyst", "Business Analyst", "Financial Analyst", "Marketing Analyst", "Analytics Lead"}},
	{[]string{"technical", "evaluator", "architect", "security"}, []string{"IT Architect", "OT Security Lead", "Controls Engineer", "Director of IT", "Solutions Architect", "Industrial Automation Engineer", "Head of IT Infrastructure"}},
	{[]string{"engineer", "developer", "dev"}, []string{"Analytics Engineer", "Data Engineer", "Senior Data Engineer", "Software Engineer", "Platform Engineer", "Staff Engineer"}},
	{[]string{"economic", "buyer", "budget", "decision"}, []string{"VP Operations", "Chief Operating Officer", "CFO", "VP Supply Chain", "Director of Operations", "Head of Finance", "SVP Manufacturing"}},
	{[]string{"exec", "c_level", "leader", "founder"}, []string{"CEO", "COO", "CFO", "Chief Operating Officer", "VP Finance", "Managing Director", "Founder & CEO", "General Manager"}},
	{[]string{"champion"}, []string{"Operations Manager", "Head of Maintenance", "Director of Fleet Operations", "Plant Manager", "Head of Reliability", "Maintenance Manager", "Operational Excellence Lead"}},
	{[]string{"end_user", "user", "practitioner", "operator"}, []string{"Maintenance Supervisor", "Fleet Coordinator", "Reliability Engineer", "Shift Supervisor", "Maintenance Planner", "Dispatcher", "Production Supervisor"}},
	{[]string{"procure", "purchas", "sourcing"}, []string{"Procurement Manager", "Strategic Sourcing Lead", "Category Manager", "Purchasing Director", "Senior Buyer", "Head of Procurement"}},
	{[]string{"marketing"}, []string{"Marketing Manager", "Head of Demand Generation", "Marketing Operations Manager", "VP Marketing", "Content Marketing Lead"}},
	{[]string{"sales", "revenue"}, []string{"Account Executive", "VP Sales", "Sales Director", "Head of Revenue Operations", "Sales Manager"}},
	{[]string{"financ"}, []string{"Finance Manager", "Controller", "VP Finance", "FP&A Lead", "CFO"}},
}

// otherTitles fit a role value no key matches ("other"): roles outside
// the ones the programme names, so neither leaders nor practitioners.
// genericTitles fit contacts of a programme without a role attribute.
// Both end with the titles that never buy; rareTitles says how many, and
// they come up seldom.
var (
	otherTitles = []string{
		"Product Manager", "Marketing Manager", "Operations Manager", "Customer Success Manager", "IT Manager",
		"Project Manager", "Consultant", "Finance Manager", "Office Manager", "Business Development Manager",
		"Operations Intern", "Technical Recruiter", "Graduate Student",
	}
	genericTitles = []string{
		"Product Manager", "Marketing Manager", "Operations Manager", "Customer Success Manager", "IT Manager",
		"Project Manager", "Consultant", "Head of Operations", "Finance Manager", "Software Engineer",
		"Data Analyst", "CTO", "VP Sales", "COO", "Business Development Manager", "Director of Engineering",
		"Operations Intern", "Technical Recruiter", "Graduate Student",
	}
)

const rareTitles = 3

// Site paths, by section. Paths the programme's email links point at are
// added to these.
var (
	blogSlugs = []string{"how-we-cut-reporting-time-in-half", "metrics-that-matter", "build-vs-buy", "a-practical-guide-to-data-quality",
		"what-we-learned-from-200-rollouts", "the-true-cost-of-downtime", "dashboards-nobody-reads", "from-pilot-to-production",
		"choosing-your-first-kpis", "security-questions-to-ask-vendors", "year-in-review", "customer-spotlight"}
	productSlugs  = []string{"overview", "dashboards", "alerts", "integrations", "security", "api", "workflows", "reporting"}
	docsSlugs     = []string{"getting-started", "connect", "api", "sso", "permissions", "webhooks", "faq"}
	customerSlugs = []string{"brightline-foods", "carrow-transport", "vellum-health", "ostrander-metals", "pelham-retail"}
	assetSlugs    = []string{"buyers-guide", "roi-worksheet", "state-of-the-industry-2026", "implementation-checklist",
		"security-overview", "analyst-report", "customer-case-study", "evaluation-scorecard"}
	webinarSlugs = []string{"live-product-tour", "ask-the-experts", "customer-roundtable", "quarterly-product-update", "best-practices-workshop"}
	connectors   = []string{"snowflake", "bigquery", "postgres", "redshift", "databricks", "salesforce", "hubspot", "google_sheets", "mysql", "stripe"}
	topicWords   = []string{"analytics", "automation", "security", "integration", "pricing", "migration", "compliance"}
	sourceWords  = []string{"website", "pricing_page", "email", "webinar", "event", "sales_outreach", "g2", "referral"}
	genericWords = []string{"standard", "priority", "pilot", "core", "north", "south", "partner", "direct"}
)

// consentSources are where an opt-in was collected; consent wording is a
// version of the sign-up form's text.
var consentSources = []string{"website_form", "newsletter_signup", "content_download", "webinar_registration", "trial_signup", "event_badge_scan"}
