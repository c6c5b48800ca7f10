package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestImportBadBytes imports a CSV file with the bad input that cannot sit
// in a script archive — a BOM, NUL, invalid UTF-8, a line break inside an
// address, a 10 MB cell and a last line cut short — into a SQLite store
// that already holds contacts, and checks each rejected row's line and
// reason, that the good rows land, and that the stored contacts the bad
// rows name are untouched.
func TestImportBadBytes(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	store := "sqlite:" + seedStore(t, now)
	before, _, code := run(t, "contacts", "export", "--dir", "testdata/base", "--store", store)
	if code != 0 {
		t.Fatal("export failed")
	}

	dir := t.TempDir()
	var b bytes.Buffer
	b.WriteString("\ufeffemail,company,industry,first_name\n")                                // 1
	b.WriteString("new1@hooli.example,Hooli,saas,Ned\n")                                      // 2
	b.WriteString("ann@acme.example,Acme\x00Evil,saas,Ann\n")                                 // 3
	b.WriteString("bob@globex.example,Globex,fintech,B\xffob\n")                              // 4
	b.WriteString("\"cy@initech.example\r\nBcc: x@evil.example\",I,saas,\n")                  // 5-6
	b.WriteString("di@umbrella.example,Umbrella,other," + strings.Repeat("x", 10<<20) + "\n") // 7
	b.WriteString("new2@hooli.example,Hooli,saas,Nia\n")                                      // 8
	b.WriteString("new3@hooli.example,\"Hooli")                                               // 9, cut short
	file := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rejects := filepath.Join(dir, "rejects.csv")
	out, errOut, code := run(t, "contacts", "import", file, "--dir", "testdata/base", "--store", store, "--rejects", rejects)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if want := file + ": 2 inserted, 0 updated, 0 unchanged, 5 rejected\n"; !strings.HasPrefix(out, want) {
		t.Errorf("summary:\n%s\nwant it to start with\n%s", out, want)
	}
	wantErr := []string{
		file + ":3: column company: the cell holds a NUL byte (U+0000); remove it",
		file + ":4: column first_name: the cell is not valid UTF-8; save the file as UTF-8",
		file + ":5: column email: the cell holds a line break; put the value on one line",
		file + ":7: column first_name: the cell holds more than the 65536 bytes a cell may hold",
		file + ":9: column company: the file ends inside the quoted cell that opens on this line",
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != len(wantErr) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(wantErr), errOut)
	}
	for i, w := range wantErr {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("stderr line %d:\n%s\nwant it to start with\n%s", i+1, lines[i], w)
		}
	}

	// The reject file is small, names every line, and keeps the rows that
	// could be kept as they were.
	rej, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) > 4096 {
		t.Errorf("the reject file holds %d bytes; the 10 MB cell should not be copied into it", len(rej))
	}
	for _, w := range []string{"\n3,", "\n4,", "\n5,", "\n7,", "\n9,", "Acme\x00Evil", "B\xffob"} {
		if !bytes.Contains(rej, []byte(w)) {
			t.Errorf("the reject file lacks %q:\n%q", w, rej)
		}
	}

	after, _, _ := run(t, "contacts", "export", "--dir", "testdata/base", "--store", store)
	want := before + "new1@hooli.example,,,,Hooli,,Ned,saas,\nnew2@hooli.example,,,,Hooli,,Nia,saas,\n"
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("the store after the import (-want +got):\n%s", diff)
	}
}

// TestImportNotCSV refuses a binary file and a JSON document named .csv
// before reading any row, and stores nothing.
func TestImportNotCSV(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "nurture.db")
	for name, content := range map[string]string{
		"image.csv": "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"json.csv":  `{"email": "ann@acme.example"}` + "\n",
	} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, "contacts", "import", file, "--dir", "testdata/base", "--store", store)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, file+": ") || !strings.HasSuffix(errOut, "\nnothing was imported\n") {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s", name, code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "nurture.db")); err == nil {
			t.Errorf("%s: the store was created for a file that cannot be imported", name)
		}
	}
}
