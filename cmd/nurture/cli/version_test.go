package cli

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionOf(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{{
		name: "a released module says its version and revision",
		bi: debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3e0cfe8a1b2c3d4e5f60718293a4b5c6d7e8f901"},
			{Key: "vcs.time", Value: "2026-12-04T18:00:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}},
		want: "v1.2.0 (rev 3e0cfe8, 2026-12-04T18:00:00Z)",
	}, {
		name: "a build from a changed checkout says so",
		bi: debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261204180000-3e0cfe8a1b2c+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "3e0cfe8a1b2c3d4e5f60718293a4b5c6d7e8f901"},
			{Key: "vcs.modified", Value: "true"},
		}},
		want: "v0.0.0-20261204180000-3e0cfe8a1b2c+dirty (rev 3e0cfe8, modified)",
	}, {
		name: "a build outside version control is devel alone",
		bi:   debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
		want: "devel",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, versionOf(&tt.bi)); diff != "" {
				t.Errorf("version (-want +got):\n%s", diff)
			}
		})
	}
}
