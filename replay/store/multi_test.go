package store

import (
	"context"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// TestImportRecords stores each record of an evaluation output as a
// trace of its own, sharing the file's session, with the refs of its record;
// importing the file again finds every one; a single-run input is one result.
func TestImportRecords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	const out = "../trace/openhands/testdata/output.jsonl"
	rs, err := s.ImportRecords(ctx, out, "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID == rs[1].ID || rs[0].ID == fileID(t, out) {
		t.Fatalf("results %+v: want two traces with ids of their own", rs)
	}
	for i, want := range []string{"acme__widgets-7", "acme/widgets#8"} {
		sum, err := s.Summary(ctx, rs[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Instance != want || sum.Session != "output" || sum.Refs["repo"].Value != "acme/widgets" {
			t.Errorf("record %d: instance %q session %q refs %v", i, sum.Instance, sum.Session, sum.Refs)
		}
	}
	again, err := s.ImportRecords(ctx, out, "", trace.Options{})
	if err != nil || len(again) != 2 || !again[0].Existing || !again[1].Existing || again[0].ID != rs[0].ID || again[1].ID != rs[1].ID {
		t.Errorf("second import %+v, %v: want both found in the store", again, err)
	}
	one, err := s.ImportRecords(ctx, "../trace/openhands/testdata/events.json", "", trace.Options{})
	if err != nil || len(one) != 1 || one[0].ID != fileID(t, "../trace/openhands/testdata/events.json") {
		t.Errorf("single run: %+v, %v", one, err)
	}
	// The image ref survives the native file.
	img, err := s.ImportRecords(ctx, "../trace/sweagent/testdata/v1.traj.json", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Run(ctx, img[0].ID)
	if err != nil || run.Meta.Refs.Image == nil || run.Meta.Refs.Image.Value != "swebench/sweb.eval.x86_64.acme_1776_widgets-7:latest" || run.Meta.Instance != "acme__widgets-7" {
		t.Errorf("stored run refs %+v, %v", run.Meta.Refs, err)
	}
}
