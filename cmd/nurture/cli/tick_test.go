package cli

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
)

// The engine's tests run the base programme compiled to JSON, as they may
// not import the compiler; this keeps that copy in step with the source.
// After changing testdata/base: nurture export cmd/nurture/cli/testdata/base > runtime/engine/testdata/base.json
func TestEngineFixtureInStep(t *testing.T) {
	res := compiler.Compile("testdata/base")
	if res.Program == nil {
		t.Fatal("the base programme does not compile")
	}
	b, err := os.ReadFile("../../../runtime/engine/testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture campaigns.Program
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	if fixture.Hash() != res.Program.Hash() {
		t.Errorf("runtime/engine/testdata/base.json is not the compiled testdata/base; regenerate it with nurture export")
	}
}
