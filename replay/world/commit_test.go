package world

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

// TestChooseCommit: the rule for the commit a replay starts from, in order.
func TestChooseCommit(t *testing.T) {
	at := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	sha := "072bdd28f8409b602018042d087e7b7fa184dc79"
	head := "9f1c2e3d4b5a69788796a5b4c3d2e1f0a9b8c7d6"
	tests := []struct {
		name    string
		in      commitInputs
		want    commitChoice
		wantErr error
	}{
		{"--commit wins over everything", commitInputs{Flag: "feature", Recorded: sha, HeadSHA: head, Kind: KindPR, PRKnown: true, PRHead: head},
			commitChoice{Rev: "feature", Ref: &trace.Ref{Value: "feature", Provenance: trace.Flag, From: "--commit"}}, nil},
		{"the recorded commit, kept as recorded", commitInputs{Recorded: sha, HeadSHA: head},
			commitChoice{Rev: sha}, nil},
		{"the result's head_sha", commitInputs{HeadSHA: head, Kind: KindPR, PRKnown: true, PRHead: sha},
			commitChoice{Rev: head, Ref: &trace.Ref{Value: head, Provenance: trace.Inferred, From: "head_sha of the agent's result"}}, nil},
		{"the pull request's head as of the run", commitInputs{Kind: KindPR, Num: 42, PRKnown: true, PRHead: sha, PRHeadFrom: "the timeline", At: at},
			commitChoice{Rev: sha, Ref: &trace.Ref{Value: sha, Provenance: trace.Inferred, From: "head of pull request #42 as of 2025-11-25T10:00:00Z, from the timeline"}}, nil},
		{"a pull request with no commit before the run", commitInputs{Kind: KindPR, Num: 42, PRKnown: true, Logical: "acme/widgets"},
			commitChoice{}, ErrNoCommit},
		{"a pull request GitHub cannot tell about: the branch tip", commitInputs{Kind: KindPR, Num: 42, Branch: "page-count"},
			commitChoice{Tip: true, TipOf: "page-count"}, nil},
		{"an issue: the recorded branch's tip", commitInputs{Kind: KindIssue, Num: 7, Branch: "main"},
			commitChoice{Tip: true, TipOf: "main"}, nil},
		{"a detached HEAD: the default branch's tip", commitInputs{Branch: "HEAD"},
			commitChoice{Tip: true}, nil},
		{"nothing recorded: the default branch's tip", commitInputs{},
			commitChoice{Tip: true}, nil},
	}
	for _, tt := range tests {
		got, err := chooseCommitFrom(tt.in)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if !cmp.Equal(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
