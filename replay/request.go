package replay

import (
	"strconv"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// Request is one replay of a trace, as a command asks for it: declarative,
// so that a command builds it from its flags without I/O and the session
// does the reading (prompt files, git refs, context files).
type Request struct {
	// Trace is a path (imported into the store first) or a stored id or
	// unique id prefix.
	Trace   string
	Format  string
	Lenient bool
	// Mode is ModeVerify (recorded model, fidelity report) or ModeRun (a
	// counterfactual against a live model).
	Mode string
	// Fetch overrides or fills what the trace lacks (--repo, --commit,
	// --github-fixture).
	Fetch world.FetchOptions
	// OverlayRecorded writes the recorded contents of the files the
	// commit does not reproduce (world.CommitSearch.Dirty) into the
	// workspace.
	OverlayRecorded bool
	// Image is the sandbox image (default sandbox.DefaultImage);
	// ExecutorPath an explicit executor binary.
	Image        string
	ExecutorPath string
	// DiskBytes caps the sandbox's workspace (0: the sandbox's default).
	DiskBytes int64
	// Timeout bounds each run (0: none).
	Timeout time.Duration
	// Policies override the default tool policies by tool name.
	Policies map[string]Policy
	// Decision says where the new run's decision is.
	Decision DecisionSpec
	// Variant is what a counterfactual changes (ModeRun).
	Variant Variant
	// MaxSteps bounds the model calls (0: 200); MaxCostUSD the priced
	// cost of the new calls (0: none).
	MaxSteps   int
	MaxCostUSD float64
	// Repeat runs the replay this many times (ReplayAll; 0 means once),
	// each repetition its own sample of the model.
	Repeat int
	// Sample is the first repetition's sample number.
	Sample int
}

// Variant is what a counterfactual changes; the zero Variant changes
// nothing.
type Variant struct {
	// Model replaces the recorded model; BaseURL is the OpenAI-compatible
	// endpoint ("" is the session's default).
	Model   string
	BaseURL string
	// SubagentModel replaces the model of every sub-agent.
	SubagentModel string
	// SystemFile replaces the main run's system prompt: a file path, or a
	// file in git named owner/repo@ref:path.
	SystemFile string
	// Prompts replace sub-agents' system prompts: sub-agent name (the Task
	// call's subagent_type) -> a file path or git ref.
	Prompts map[string]string
	// AddContext files are added as user messages after the opening ones.
	AddContext []string
	// DropSteps are main-run steps (1-based) whose messages are left out.
	DropSteps []int
	// Params override the recorded request parameters (set fields win).
	Params trace.Params
	// FromStep K takes the steps before K from the recording; the model
	// takes over at K.
	FromStep int
}

// Record is what the stored run says was changed, flag name -> value
// (trace.Origin.Variant): the flags a user would pass to get it again.
func (v Variant) Record() map[string]string {
	r := map[string]string{}
	set := func(k, val string) {
		if val != "" {
			r[k] = val
		}
	}
	set("model", v.Model)
	set("base-url", v.BaseURL)
	set("subagent-model", v.SubagentModel)
	set("effort", v.Params.Effort)
	set("system-file", v.SystemFile)
	for name, file := range v.Prompts {
		set("prompt."+name, file)
	}
	set("context.add", strings.Join(v.AddContext, ","))
	var drops []string
	for _, n := range v.DropSteps {
		drops = append(drops, strconv.Itoa(n))
	}
	set("context.drop", strings.Join(drops, ","))
	if v.FromStep > 0 {
		set("from-step", strconv.Itoa(v.FromStep))
	}
	p := v.Params
	if p.Temperature != nil {
		set("temperature", strconv.FormatFloat(*p.Temperature, 'g', -1, 64))
	}
	if p.TopP != nil {
		set("top-p", strconv.FormatFloat(*p.TopP, 'g', -1, 64))
	}
	if p.MaxTokens != nil {
		set("max-tokens", strconv.FormatInt(*p.MaxTokens, 10))
	}
	if p.Seed != nil {
		set("seed", strconv.FormatInt(*p.Seed, 10))
	}
	return r
}

// IsZero reports whether the variant changes nothing.
func (v Variant) IsZero() bool {
	return v.Model == "" && v.BaseURL == "" && v.SubagentModel == "" && v.Params.Effort == "" && v.SystemFile == "" && len(v.Prompts) == 0 && len(v.AddContext) == 0 &&
		len(v.DropSteps) == 0 && v.FromStep == 0 && v.Params.Temperature == nil && v.Params.TopP == nil &&
		v.Params.MaxTokens == nil && v.Params.Seed == nil && v.Params.Model == "" && len(v.Params.Stop) == 0 && v.Params.TopK == nil
}

// origin is how the new run records what it replays.
func (r Request) origin(of string, sample int) *trace.Origin {
	rec := r.Variant.Record()
	if r.Mode == ModeVerify {
		rec = map[string]string{"mode": ModeVerify}
	}
	return &trace.Origin{Of: of, Mode: r.Mode, Variant: rec, Sample: sample}
}

// policySet is the request's policies over the defaults.
func (r Request) policySet() PolicySet {
	return NewPolicySet(r.Policies)
}
