package sqlite

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the unprivileged user a root-run test becomes: root may write
// any file, so only another user sees a store as read-only.
const nobody = 65534

// TestOpenReadOnly: a store this user may not write is refused when it is
// opened, with an error that names the file or directory and what to do,
// not SQLite's "unable to open database file" or a failure at the first
// write.
func TestOpenReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		asNobody(t)
		return
	}
	ctx := context.Background()
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir, path string)
		open    string // the file to open, relative to the directory
		want    []string
	}{
		{
			name: "a read-only file in a writable directory",
			prepare: func(t *testing.T, dir, path string) {
				chmod(t, path, 0o444)
			},
			want: []string{"is read-only", "may not write the file", "write access"},
		},
		{
			name: "a writable file in a read-only directory",
			prepare: func(t *testing.T, dir, path string) {
				chmod(t, dir, 0o555)
			},
			want: []string{"is read-only", "may not write its directory", "-wal", "write access"},
		},
		{
			name: "a new store in a read-only directory",
			prepare: func(t *testing.T, dir, path string) {
				chmod(t, dir, 0o555)
			},
			open: "new.db",
			want: []string{"is read-only", "may not write its directory", "write access"},
		},
		{
			name:    "a new store in a directory that is not there",
			prepare: func(t *testing.T, dir, path string) {},
			open:    "missing/new.db",
			want:    []string{"cannot be created", "there is no directory", "missing"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "nurture.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir, path)
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			open := path
			if tc.open != "" {
				open = filepath.Join(dir, tc.open)
			}
			s, err = Open(ctx, open)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded; want it refused", open)
			}
			msg := err.Error()
			if !strings.Contains(msg, open) {
				t.Errorf("error does not name the store %s: %s", open, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "unable to open database file") {
				t.Errorf("error is SQLite's, not ours: %s", msg)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// asNobody runs this test again in a copy of the test binary as user
// nobody, and fails with its output if it fails.
func asNobody(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nurture-readonly")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sqlite.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestOpenReadOnly$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Skipf("cannot run as user %d to see a read-only store: %v", nobody, err)
		}
		t.Fatalf("as user %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestOpenReadOnly") {
		t.Fatalf("as user %d the test did not pass:\n%s", nobody, out)
	}
	t.Logf("as user %d:\n%s", nobody, out)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
