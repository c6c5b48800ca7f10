// Package backend holds the workflows that need both the compiler and
// the runtime: making a plan (the definitions diff, the audience impact
// and the rehearsed next tick), saving and loading it, and applying it.
// The commands drive it and only parse flags and render, as Terraform's
// commands drive its local backend.
//
// It must not print or read flags.
package backend

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// Plan compares prog with the store's applied version and counts the
// impact in the store: sample example contacts per impact (0: none), and
// with nextTick, the next tick rehearsed on the store when it can
// rehearse one: it costs what a tick costs.
func Plan(ctx context.Context, st runtime.Store, prog *campaigns.Program, dir string, now time.Time, sample int, nextTick bool) (*campaigns.Plan, error) {
	// New attributes need their columns before the store can count by
	// them; adding columns changes nothing stored.
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		return nil, err
	}
	cur, err := st.Applied(ctx)
	if err != nil {
		return nil, err
	}
	var old *campaigns.Program
	var base campaigns.PlanBase
	if cur != nil {
		old = new(campaigns.Program)
		if err := json.Unmarshal(cur.Program, old); err != nil {
			return nil, fmt.Errorf("reading applied version %d: %w", cur.Serial, err)
		}
		base = campaigns.PlanBase{Serial: cur.Serial, Lineage: cur.Lineage, Hash: cur.Hash}
	}
	changes, ms := compiler.Diff(old, prog)
	p := &campaigns.Plan{
		FormatVersion: campaigns.PlanFormatVersion,
		CreatedAt:     now,
		Base:          base,
		Hash:          prog.Hash(),
		Summary:       compiler.Summarize(changes),
		Changes:       changes,
		Migrations:    ms,
		Program:       prog,
	}
	if abs, err := filepath.Abs(dir); err == nil {
		p.Source = abs
	}
	if ps, ok := st.(interface {
		Pauses(ctx context.Context) ([]runtime.Pause, error)
	}); ok {
		pauses, err := ps.Pauses(ctx)
		if err != nil {
			return nil, err
		}
		for _, x := range pauses {
			p.Paused = append(p.Paused, cmp.Or(x.Sequence, "*"))
		}
	}
	if len(changes) > 0 {
		// Without a sample contact (a schema the generator cannot fill),
		// the plan shows the emails' Markdown instead: a review aid is no
		// reason to refuse a plan.
		p.Emails, _ = emailPreviews(old, prog, changes)
		if p.Impact, err = runtime.Impact(ctx, st, old, prog, changes, ms, func() time.Time { return now }, sample); err != nil {
			return nil, fmt.Errorf("counting the audience impact: %w", err)
		}
		if p.Experiments, err = experiments(ctx, st, old, prog, changes, now); err != nil {
			return nil, err
		}
		if r, ok := st.(worker.Rehearser); ok && nextTick {
			body, err := campaigns.Canonical(prog)
			if err != nil {
				return nil, err
			}
			v := &runtime.Version{Hash: p.Hash, AppliedAt: now, AppliedBy: "plan", Program: body}
			if p.Next, err = worker.Predict(ctx, r, v, base, ms, prog, now); err != nil {
				p.Next = &campaigns.NextTick{At: now.UTC(), Error: err.Error()}
			}
		}
	}
	return p, nil
}

// Save writes the plan with its programme, through a temporary file
// so that a failed write never leaves half a plan.
func Save(path string, p *campaigns.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nurture-plan-*")
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// Load reads a saved plan and checks that it is whole.
func Load(path string) (*campaigns.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p campaigns.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is not a saved plan: %v (make one with nurture plan --out %s)", path, err, path)
	}
	switch {
	case p.FormatVersion == 0 || p.Program == nil:
		return nil, fmt.Errorf("%s is not a saved plan (make one with nurture plan --out %s)", path, path)
	case p.FormatVersion > campaigns.PlanFormatVersion:
		return nil, fmt.Errorf("%s was saved by a newer nurture (plan format %d; this one reads %d): upgrade nurture", path, p.FormatVersion, campaigns.PlanFormatVersion)
	case p.Program.Hash() != p.Hash:
		return nil, fmt.Errorf("%s was changed after it was saved: its programme no longer matches its hash %s; make the plan again", path, p.Hash)
	}
	return &p, nil
}

// Stale refuses a saved plan whose programme directory now
// compiles to something else. A directory that is gone (the plan was
// carried to another machine) is not checked: the plan holds its
// programme.
func Stale(p *campaigns.Plan) error {
	if p.Source == "" {
		return nil
	}
	if _, err := os.Stat(p.Source); err != nil {
		return nil
	}
	res := compiler.Compile(p.Source)
	if res.Program == nil {
		return fmt.Errorf("the saved plan is stale: the programme in %s no longer compiles; fix it and make a new plan", p.Source)
	}
	if h := res.Program.Hash(); h != p.Hash {
		return fmt.Errorf("the saved plan is stale: the programme in %s changed since the plan was made (%s then, %s now); make a new plan",
			p.Source, compiler.ShortHash(p.Hash), compiler.ShortHash(h))
	}
	return nil
}

// Applied is what an apply did: the version it installed, and how many
// contacts of renamed or removed steps moved on or left their sequence.
type Applied struct {
	Serial        int64
	Moved, Exited int
}

// Apply installs plan p's programme prog as the version in force, with
// the moves of contacts it plans, in one transaction: a failure leaves
// the previous version in force. who is recorded beside the git commit of
// the plan's source.
func Apply(ctx context.Context, st runtime.Store, p *campaigns.Plan, prog *campaigns.Program, who string) (Applied, error) {
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		return Applied{}, err
	}
	body, err := campaigns.Canonical(prog)
	if err != nil {
		return Applied{}, err
	}
	v := runtime.Version{Hash: p.Hash, AppliedBy: who, GitCommit: gitCommit(p.Source), Program: body}
	res, err := st.Apply(ctx, v, p.Base, p.Migrations)
	if errors.Is(err, runtime.ErrStale) {
		return Applied{}, fmt.Errorf("%w; make a new plan", err)
	}
	if err != nil {
		return Applied{}, fmt.Errorf("applying: %w; the previous version is still in force", err)
	}
	a := Applied{Serial: res.Serial}
	for i := range res.Moved {
		a.Moved += res.Moved[i]
		a.Exited += res.Exited[i]
	}
	return a, nil
}

// gitCommit is the commit of dir's repository, with "-dirty" when dir has
// uncommitted changes, or "" outside a repository.
func gitCommit(dir string) string {
	if dir == "" {
		return ""
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
}

// Undeclared reports the removed steps of p that hold contacts the
// programme neither moved nor removed, one diagnostic each, placed by pos
// when given (nil for a saved plan). It counts the store afresh, so that
// applying a saved plan refuses too once contacts have reached such a
// step since it was made.
func Undeclared(ctx context.Context, st runtime.Store, p *campaigns.Plan, pos func(...string) compiler.Pos) (compiler.Diagnostics, error) {
	undeclared := false
	for _, m := range p.Migrations {
		undeclared = undeclared || m.Undeclared
	}
	if !undeclared {
		return nil, nil
	}
	counts, err := st.StepCounts(ctx)
	if err != nil {
		return nil, err
	}
	in := map[[2]string]int{}
	for _, c := range counts {
		in[[2]string{c.Sequence, c.Step}] += c.Contacts
	}
	ds := compiler.UndeclaredMoves(p.Migrations, func(seq, step string) int { return in[[2]string{seq, step}] }, pos)
	return ds, nil
}
