package replay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/sandbox"
)

// closeFailing is a sandbox backend whose sandboxes run tools in a local
// executor and then cannot be removed.
type closeFailing struct {
	t       *testing.T
	started int
	closeOK bool
}

func (b *closeFailing) Start(_ context.Context, opts sandbox.Options) (sandbox.Sandbox, error) {
	b.started++
	return &unremovable{localWorkspace: newLocal(b.t, nil), dir: opts.WorkDir, ok: b.closeOK}, nil
}

func (b *closeFailing) Close() error { return nil }

type unremovable struct {
	*localWorkspace
	dir string
	ok  bool
}

func (u *unremovable) WriteFile(context.Context, string, []byte, fs.FileMode) error {
	return errors.New("not used")
}
func (u *unremovable) Changes(context.Context) ([]sandbox.Change, error) { return nil, nil }
func (u *unremovable) CopyOut(context.Context, io.Writer, ...string) error {
	return errors.New("not used")
}
func (u *unremovable) WorkDir() string { return u.dir }
func (u *unremovable) Close(context.Context) error {
	if u.ok {
		return nil
	}
	return errors.New("remove sandbox 0123456789ab: daemon said no")
}

// A sandbox that cannot be removed is reported (a leftover container must
// leave a trace of why), and the replay still completes and is stored.
func TestSessionReportsAFailedSandboxRemoval(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var log bytes.Buffer
	backend := &closeFailing{t: t}
	s := &replay.Session{Store: st, Sandboxes: backend, Log: &log}
	res, err := s.Replay(ctx, replay.Request{Trace: "store/testdata/review.jsonl", Mode: replay.ModeVerify})
	if err != nil {
		t.Fatal(err)
	}
	if backend.started != 1 || res.ID == "" {
		t.Fatalf("started %d sandboxes, stored %q", backend.started, res.ID)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "daemon said no") || !strings.Contains(res.Warnings[0], "replay sandbox prune") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if !strings.Contains(log.String(), "warning: remove sandbox 0123456789ab: daemon said no") {
		t.Errorf("log %q", log.String())
	}
	// The sandbox is still noted in the store, so that prune can say whose
	// it was; one that was removed is not.
	recs, err := st.Sandboxes()
	if err != nil || len(recs) != 1 || !strings.HasPrefix(recs[0].Run, "replay-") || recs[0].Trace != res.Original.ID {
		t.Errorf("sandbox notes %+v, %v", recs, err)
	}
	backend.closeOK = true
	if _, err := s.Replay(ctx, replay.Request{Trace: "store/testdata/review.jsonl", Mode: replay.ModeVerify}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Sandboxes(); len(recs) != 1 {
		t.Errorf("a removed sandbox is still noted: %+v", recs)
	}
}
