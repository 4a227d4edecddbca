package langfuse

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Scores a human gave a trace become its feedback events.
//
// A Langfuse trace carries its scores (the API's trace object and the UI's
// download both have "scores": [{name, value, stringValue, dataType,
// source, comment, authorUserId, timestamp, …}]). A score is a human's when
// its source is ANNOTATION (scored in the Langfuse UI), or when a user
// wrote it with a comment (authorUserId and comment set; user feedback sent
// through the API). EVAL scores (LLM-as-a-judge) are not. The act is read
// from the value:
//
//   - a categorical value naming an act (override, revert, manual-fix,
//     confirm) is that act;
//   - a positive verdict (BOOLEAN true or 1, a NUMERIC value of 0.5 or more,
//     categorical correct, good, yes, accept, pass, …) is a confirm; a
//     negative one (false or 0, below 0.5, incorrect, wrong, bad, no,
//     reject, fail, …) an override;
//   - anything else is not an act a replay can label with, and is skipped.
//
// By is the author, At the score's time, Note "langfuse score NAME=VALUE"
// and its comment; Source "trace".

// score is one Langfuse score, as the public API returns it.
type score struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Value         *float64 `json:"value"`
	StringValue   *string  `json:"stringValue"`
	DataType      string   `json:"dataType"`
	Source        string   `json:"source"`
	Comment       *string  `json:"comment"`
	AuthorUserID  *string  `json:"authorUserId"`
	Timestamp     string   `json:"timestamp"`
	CreatedAt     string   `json:"createdAt"`
	ObservationID *string  `json:"observationId"`
}

// emitScores emits the human scores of raw (the trace's "scores" value) as
// feedback events. Scores that do not parse are skipped: they are not
// steps, and the trace is read without them.
func emitScores(e trace.Emitter, raw json.RawMessage) error {
	for _, fb := range scoreFeedback(raw) {
		if err := e.Emit(&trace.Event{Type: trace.EvFeedback, Feedback: &fb}); err != nil {
			return err
		}
	}
	return nil
}

// scoreFeedback reads the human acts of a "scores" value.
func scoreFeedback(raw json.RawMessage) []trace.Feedback {
	if len(raw) == 0 {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []trace.Feedback
	for _, it := range items {
		var s score
		if json.Unmarshal(it, &s) != nil {
			continue
		}
		comment, author := deref(s.Comment), deref(s.AuthorUserID)
		human := strings.EqualFold(s.Source, "ANNOTATION") || (!strings.EqualFold(s.Source, "EVAL") && author != "" && strings.TrimSpace(comment) != "")
		if !human {
			continue
		}
		act, shown := scoreAct(s)
		if act == "" {
			continue
		}
		note := "langfuse score " + s.Name + "=" + shown
		if c := strings.TrimSpace(comment); c != "" {
			note += ": " + c
		}
		at := parseTime(s.Timestamp)
		if at.IsZero() {
			at = parseTime(s.CreatedAt)
		}
		out = append(out, trace.Feedback{Human: act, By: author, At: at, Note: note, Source: "trace"})
	}
	return out
}

// scoreAct reads the act from a score's value, and the value as shown.
func scoreAct(s score) (act, shown string) {
	if v := s.StringValue; v != nil && *v != "" && !strings.EqualFold(s.DataType, "NUMERIC") {
		w := strings.ToLower(strings.TrimSpace(*v))
		switch {
		case trace.IsHumanAct(w):
			return w, *v
		case verdict(w) != "":
			return verdict(w), *v
		}
		if s.Value == nil || !strings.EqualFold(s.DataType, "BOOLEAN") {
			return "", *v
		}
	}
	if s.Value == nil {
		return "", ""
	}
	shown = strconv.FormatFloat(*s.Value, 'g', -1, 64)
	if strings.EqualFold(s.DataType, "CATEGORICAL") {
		return "", shown
	}
	if *s.Value >= 0.5 {
		return trace.HumanConfirm, shown
	}
	return trace.HumanOverride, shown
}

// verdict is the act a categorical score's word says.
func verdict(w string) string {
	switch w {
	case "correct", "good", "yes", "true", "accept", "accepted", "approve", "approved", "pass", "passed",
		"thumbs up", "thumbs_up", "👍", "helpful", "right":
		return trace.HumanConfirm
	case "incorrect", "wrong", "bad", "no", "false", "reject", "rejected", "fail", "failed",
		"thumbs down", "thumbs_down", "👎", "unhelpful", "not helpful":
		return trace.HumanOverride
	}
	return ""
}
