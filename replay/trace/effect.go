package trace

import (
	"fmt"
	"strings"
)

// EvEffect carries one GitHub write of a run (Effect): native format
// version 2 and later.
const EvEffect = "effect"

// Effect kinds: the GitHub writes a replay answers and applies to its
// in-run copy of the GitHub snapshot instead of sending them.
const (
	EffectLabelAdd    = "label-add"
	EffectLabelRemove = "label-remove"
	EffectComment     = "comment"
	EffectReview      = "review"
	EffectClose       = "close"
	EffectReopen      = "reopen"
	EffectMerge       = "merge"
	EffectAssign      = "assign"
	EffectUnassign    = "unassign"
	EffectEdit        = "edit" // title or body
)

// How an effect's tool call was answered (Effect.Answer).
const (
	EffectRecorded  = "recorded"  // the recorded answer of the identical call (a faithful verify)
	EffectSimulated = "simulated" // answered as GitHub would, applied to the in-run snapshot; never sent
)

// Effect is one write a run made to GitHub (a label added, a comment
// posted, a review submitted, the issue closed), as replay understood the
// command or request that made it. In a replay no effect reaches GitHub.
type Effect struct {
	Kind string `json:"kind"`
	// Target is the issue or pull request written to: owner/name#N.
	Target string `json:"target,omitempty"`
	// Labels (label-add, label-remove), Assignees (assign, unassign).
	Labels    []string `json:"labels,omitempty"`
	Assignees []string `json:"assignees,omitempty"`
	// Body of a comment, a review, or an edit of the body.
	Body string `json:"body,omitempty"`
	// Title of an edit.
	Title string `json:"title,omitempty"`
	// Review is a review's event: APPROVE, REQUEST_CHANGES or COMMENT.
	Review string `json:"review,omitempty"`
	// Reason of a close (completed, not planned).
	Reason string `json:"reason,omitempty"`
	// Call is the id of the tool call that made it; Tool its name.
	Call string `json:"call,omitempty"`
	Tool string `json:"tool,omitempty"`
	// Answer says how the call was answered: EffectRecorded or
	// EffectSimulated.
	Answer string `json:"answer,omitempty"`
}

// Key identifies what an effect does, for comparing the effects of two
// runs: the kind, the target and what was written (not the call that made
// it, nor how it was answered).
func (e Effect) Key() string {
	parts := []string{e.Kind, e.Target}
	switch e.Kind {
	case EffectLabelAdd, EffectLabelRemove:
		parts = append(parts, strings.Join(e.Labels, ","))
	case EffectAssign, EffectUnassign:
		parts = append(parts, strings.Join(e.Assignees, ","))
	case EffectComment:
		parts = append(parts, e.Body)
	case EffectReview:
		parts = append(parts, e.Review, e.Body)
	case EffectEdit:
		parts = append(parts, e.Title, e.Body)
	case EffectClose:
		parts = append(parts, e.Reason)
	}
	return strings.Join(parts, "\x00")
}

// String renders an effect in a line: `label-add acme/widgets#7: bug`.
func (e Effect) String() string {
	s := e.Kind
	if e.Target != "" {
		s += " " + e.Target
	}
	var what string
	switch e.Kind {
	case EffectLabelAdd, EffectLabelRemove:
		what = strings.Join(e.Labels, ", ")
	case EffectAssign, EffectUnassign:
		what = strings.Join(e.Assignees, ", ")
	case EffectReview:
		what = e.Review
		if e.Body != "" {
			what += " " + fmt.Sprintf("%q", clip(e.Body, 60))
		}
	case EffectComment:
		what = fmt.Sprintf("%q", clip(e.Body, 60))
	case EffectEdit:
		if e.Title != "" {
			what = "title " + fmt.Sprintf("%q", clip(e.Title, 60))
		} else {
			what = "body"
		}
	case EffectClose:
		what = e.Reason
	}
	if what != "" {
		s += ": " + what
	}
	return s
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// AllEffects lists the effects of r and its sub-agent runs, parents first.
func (r *Run) AllEffects() []Effect {
	var out []Effect
	r.Walk(func(x *Run) { out = append(out, x.Effects...) })
	return out
}
