package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime/sqlite"
)

func newBackup() *cobra.Command {
	var store string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the SQLite store while it is in use",
		Example: `  nurture backup backups/nurture-$(date +%F).db
  nurture backup nightly.db --force --store sqlite:/srv/nurture/nurture.db`,
		Long: `Backup writes a consistent copy of a SQLite store to FILE while nurture
run and nurture serve go on using it. Copying the database file is not a
backup: the newest writes sit in its write-ahead log (the -wal file) and
a copy taken mid-write is torn. The copy is one snapshot, compacted, in a
single file that opens as a store (--store sqlite:FILE).

An existing FILE is refused unless --force; the copy is written beside it
and renamed into place, so FILE is never half written.

A PostgreSQL store is backed up with the server's own tools (pg_dump).`,
		Args: exactArgs(1, "name the file to write the copy to"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !strings.HasPrefix(store, "sqlite:") {
				return fmt.Errorf("nurture backup copies a SQLite store; back up a PostgreSQL store with pg_dump, as in: pg_dump --format=custom --file nurture.dump DATABASE")
			}
			if err := storeExists(store); err != nil {
				return err
			}
			st, err := openStore(ctx, store)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := sqlite.Backup(ctx, st, args[0], force)
			if err != nil {
				return err
			}
			applied := "nothing applied"
			if c.Applied > 0 {
				applied = fmt.Sprintf("applied version %d", c.Applied)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backed up %s to %s: %d bytes, %s, %s. Open it with --store sqlite:%s.\n",
				strings.TrimPrefix(store, "sqlite:"), args[0], c.Bytes, plural(c.Contacts, "contact"), applied, args[0])
			return nil
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE when it exists")
	return cmd
}
