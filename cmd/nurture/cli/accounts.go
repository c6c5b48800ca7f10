package cli

import "github.com/spf13/cobra"

func newAccounts() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "accounts",
		Short: "Import accounts and their attributes",
		Example: `  nurture accounts import accounts.csv
  nurture explain --account acme`,
	}
	cmd.AddCommand(newImportCommand(accountsImport))
	return cmd
}
