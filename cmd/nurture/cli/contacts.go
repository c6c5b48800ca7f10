package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func newContacts() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "Import, export and erase contacts",
		Example: `  nurture contacts import contacts.csv
  nurture contacts export -o contacts.csv`,
	}
	cmd.AddCommand(newImportCommand(contactsImport), newContactsExport(), newContactsErase())
	return cmd
}

type exportFlags struct {
	dir   string
	store string
	out   string
}

func newContactsExport() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every contact as CSV",
		Example: `  nurture contacts export -o contacts.csv
  # before anything is applied, by the programme's source
  nurture contacts export --dir examples/b2b-saas`,
		Long: `Export writes every contact in the store as CSV with a header: email, the
built-in attributes, then the attributes the programme applied to the store
declares (or the programme source in --dir DIR, before applying).
A text cell that a spreadsheet would run as a formula (it starts with =, +,
-, @, a tab or a carriage return) is written with a leading apostrophe.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			prog, err := dataProgram(ctx, cmd.ErrOrStderr(), f.store, f.dir)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, f.store)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var file *os.File
			if f.out != "" && f.out != "-" {
				if file, err = os.Create(f.out); err != nil {
					return err
				}
				w = file
			}
			n, err := exportContacts(ctx, w, st, &prog.Contact)
			if file != nil {
				if cerr := file.Close(); err == nil {
					err = cerr
				}
				if err == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s to %s\n", plural(n, "contact"), f.out)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "name the columns by the programme source in this directory (default: the programme applied to the store)")
	cmd.Flags().StringVarP(&f.out, "out", "o", "", "write to this file instead of standard output")
	storeFlag(cmd, &f.store)
	return cmd
}

// exportColumns are email, the built-in attributes, then the declared ones
// by name.
func exportColumns(schema *campaigns.ContactSchema) []string {
	cols := []string{campaigns.AttrEmail}
	for _, b := range []string{campaigns.AttrStage, campaigns.AttrAccount, campaigns.AttrAccountTier, campaigns.AttrTimezone} {
		if schema.Attributes[b] != nil {
			cols = append(cols, b)
		}
	}
	var declared []string
	for name, a := range schema.Attributes {
		if !a.Builtin {
			declared = append(declared, name)
		}
	}
	slices.Sort(declared)
	return append(cols, declared...)
}

func exportContacts(ctx context.Context, w io.Writer, st runtime.Store, schema *campaigns.ContactSchema) (int, error) {
	cols := exportColumns(schema)
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	row := make([]string, len(cols))
	n := 0
	err := st.Contacts(ctx, func(c runtime.Contact) error {
		for i, col := range cols {
			row[i] = cell(c.Values[col])
		}
		n++
		return cw.Write(row)
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}

// cell writes one value for a spreadsheet. Text that would start a formula
// gets a leading apostrophe; numbers are numbers and keep their sign.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
			return "'" + v
		}
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}
