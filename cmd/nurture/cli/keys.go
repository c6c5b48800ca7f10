package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

// keyStore is the store's side of the tracking keys.
type keyStore interface {
	runtime.Store
	TrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error)
	AllTrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error)
	RotateTrackingKey(ctx context.Context) (runtime.TrackingKey, error)
	RetireTrackingKey(ctx context.Context, id int64) (bool, error)
}

// linkLife is how long a link in an email must keep working after the key
// that signed it stopped signing.
const linkLife = 30 * 24 * time.Hour

func openKeyStore(ctx context.Context, spec string) (keyStore, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	ks, ok := st.(keyStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store holds no tracking keys", st.Dialect())
	}
	return ks, nil
}

func listKeys(cmd *cobra.Command, store string) error {
	ks, err := openKeyStore(cmd.Context(), store)
	if err != nil {
		return err
	}
	defer ks.Close()
	keys, err := ks.AllTrackingKeys(cmd.Context())
	if err != nil {
		return err
	}
	writeKeys(cmd.OutOrStdout(), keys)
	return nil
}

func newKeys() *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the keys that sign tracked links; rotate and retire them",
		Example: `  nurture keys list
  nurture keys rotate
  nurture keys retire 1`,
		Long: `Tracked links (clicks, opens, unsubscribes, the preference page) carry a
token signed with the store's tracking key. The store makes the first key
when it first needs one. The newest key signs; every key not retired
verifies, so a rotation breaks no link already sent. Retire a key once
the mail it signed is old enough: unsubscribe links must keep working for
30 days at least.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listKeys(cmd, store)
		},
	}
	storeFlag(cmd, &store)
	// keys list is the same listing, named as state list and
	// suppressions list name theirs.
	var listStore string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the tracking keys: which signs, which verify, which are retired",
		Example: "  nurture keys list\n  nurture keys list --store postgres://nurture@db.example/nurture",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listKeys(cmd, listStore)
		},
	}
	storeFlag(list, &listStore)
	rotate := &cobra.Command{
		Use:     "rotate",
		Short:   "Add a new key that signs from now on; older keys still verify",
		Example: `  nurture keys rotate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := openKeyStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer ks.Close()
			k, err := ks.RotateTrackingKey(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Key %d signs from now on. Running servers pick it up within their --refresh.\n", k.ID)
			return nil
		},
	}
	storeFlag(rotate, &store)
	var force bool
	retire := &cobra.Command{
		Use:   "retire ID",
		Short: "Stop a key verifying: links it signed stop working",
		Example: `  # IDs as nurture keys list shows them
  nurture keys retire 1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a key ID: nurture keys lists them", args[0])
			}
			ks, err := openKeyStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer ks.Close()
			active, err := ks.TrackingKeys(cmd.Context())
			if err != nil {
				return err
			}
			i := -1
			for j, k := range active {
				if k.ID == id {
					i = j
				}
			}
			switch {
			case i < 0:
				return fmt.Errorf("no key %d in use: nurture keys lists them", id)
			case i == 0:
				return fmt.Errorf("key %d signs today's links: run nurture keys rotate first, and retire it once its mail is %s old", id, "30 days")
			}
			// The key stopped signing when the next one was made.
			if since := time.Since(active[i-1].CreatedAt); since < linkLife && !force {
				return fmt.Errorf("key %d signed links until %s days ago; unsubscribe links must work for 30 days: retire it after %s, or give --force",
					id, strconv.Itoa(int(since.Hours()/24)), active[i-1].CreatedAt.Add(linkLife).Format("2 January 2006"))
			}
			if _, err := ks.RetireTrackingKey(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Key %d retired: links it signed now get 404.\n", id)
			return nil
		},
	}
	storeFlag(retire, &store)
	retire.Flags().BoolVar(&force, "force", false, "retire a key whose links are younger than 30 days")
	cmd.AddCommand(list, rotate, retire)
	return cmd
}

func writeKeys(w io.Writer, keys []runtime.TrackingKey) {
	if len(keys) == 0 {
		fmt.Fprintln(w, "No tracking keys yet: the first send or nurture serve makes one.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSTATE")
	signing := true
	for _, k := range keys {
		state := "verifies"
		switch {
		case !k.RetiredAt.IsZero():
			state = "retired " + k.RetiredAt.UTC().Format("2006-01-02")
		case signing:
			state, signing = "signs and verifies", false
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", k.ID, k.CreatedAt.UTC().Format("2006-01-02 15:04 MST"), state)
	}
	tw.Flush()
}
