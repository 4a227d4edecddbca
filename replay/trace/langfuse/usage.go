package langfuse

import (
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Usage normalization.
//
// Langfuse's usageDetails is a free-form map. Langfuse prices every key of it
// separately (calculated cost = Σ usage[key] × price[key]), so its intended
// meaning is disjoint counts: "input" is the uncached prompt and cache reads
// and writes are their own keys (Langfuse's maintainers say so in
// langfuse/langfuse#9386; the langfuse-js LangChain handler subtracts cached
// tokens from input, langfuse-js#512; LiteLLM subtracts them before
// ingesting, BerriAI/litellm#16203). Not every producer follows it:
//
//   - integrations that copy OpenAI's prompt_tokens, OTel's
//     gen_ai.usage.input_tokens or OpenInference's llm.token_count.prompt
//     (keys "prompt_details.cache_read", "input_cached_tokens" from the TS
//     OpenAI wrapper, langfuse/langfuse#10592) send an input that INCLUDES
//     the cached tokens;
//   - reasoning tokens are inside "output" for OpenInference
//     ("completion_details.reasoning", and Gemini through it) but apart from
//     it for the LangChain handler ("output_reasoning", priced separately).
//
// So each observation is decided on its own numbers: when "total" is given,
// the reading (input includes cache or not) × (output includes reasoning or
// not) whose sum equals it wins; without a total, or when none matches, the
// key names decide (OpenAI/OTel/OpenInference names: included; Langfuse's
// own names: disjoint). The result is replay's four disjoint counts, with
// Reasoning reported apart and included in Output.

var (
	inputKeys      = []string{"input", "input_tokens", "prompt_tokens", "promptTokens", "inputTokens"}
	outputKeys     = []string{"output", "output_tokens", "completion_tokens", "completionTokens", "outputTokens"}
	totalKeys      = []string{"total", "total_tokens", "totalTokens"}
	cacheReadKeys  = []string{"input_cache_read", "cache_read_input_tokens", "input_cached_tokens", "input_cache_read_tokens", "cache_read", "cacheReadInputTokens", "prompt_details.cache_read", "prompt_tokens_details.cached_tokens", "input_token_details.cache_read", "cached_tokens", "cached_input_tokens"}
	cacheWriteKeys = []string{"input_cache_creation", "cache_creation_input_tokens", "input_cache_write", "input_cache_creation_tokens", "cache_creation", "cacheCreationInputTokens", "prompt_details.cache_write", "input_token_details.cache_creation"}
	reasoningKeys  = []string{"output_reasoning", "output_reasoning_tokens", "completion_details.reasoning", "completion_tokens_details.reasoning_tokens", "output_token_details.reasoning", "reasoning_tokens", "reasoning"}
)

// pick returns the value of the first key of keys present in u.
func pick(u map[string]float64, keys []string) (v float64, key string, ok bool) {
	for _, k := range keys {
		if x, found := u[k]; found {
			return x, k, true
		}
	}
	return 0, "", false
}

// includedByName reports whether a cache or reasoning key name comes from a
// convention where the count is inside input (or output).
func includedByName(key string) bool {
	return strings.HasPrefix(key, "prompt_details.") || strings.HasPrefix(key, "prompt_tokens_details.") ||
		strings.HasPrefix(key, "completion_details.") || strings.HasPrefix(key, "completion_tokens_details.") ||
		strings.HasPrefix(key, "input_token_details.") || strings.HasPrefix(key, "output_token_details.") ||
		key == "cached_tokens" || key == "cached_input_tokens" || key == "input_cached_tokens" || key == "reasoning_tokens"
}

// normalizeUsage turns a usageDetails map into disjoint counts; nil when it
// holds no token count.
func normalizeUsage(u map[string]float64) *trace.Usage {
	in, _, hasIn := pick(u, inputKeys)
	out, _, hasOut := pick(u, outputKeys)
	cr, crKey, _ := pick(u, cacheReadKeys)
	cw, cwKey, _ := pick(u, cacheWriteKeys)
	rs, rsKey, _ := pick(u, reasoningKeys)
	total, _, hasTotal := pick(u, totalKeys)
	if !hasIn && !hasOut && cr == 0 && cw == 0 && rs == 0 {
		return nil
	}
	cache := cr + cw

	inclCache := includedByName(crKey) || (crKey == "" && includedByName(cwKey))
	inclReasoning := includedByName(rsKey)
	if hasTotal && (cache > 0 || rs > 0) {
		for _, c := range [4][2]bool{{inclCache, inclReasoning}, {!inclCache, inclReasoning}, {inclCache, !inclReasoning}, {!inclCache, !inclReasoning}} {
			if c[0] && in < cache {
				continue
			}
			sum := in + out
			if !c[0] {
				sum += cache
			}
			if !c[1] {
				sum += rs
			}
			if sum == total {
				inclCache, inclReasoning = c[0], c[1]
				break
			}
		}
	}
	if inclCache && in < cache {
		inclCache = false
	}
	res := trace.Usage{
		Input:      int64(in),
		Output:     int64(out),
		CacheRead:  int64(cr),
		CacheWrite: int64(cw),
		Reasoning:  int64(rs),
	}
	if inclCache {
		res.Input = int64(in - cache)
	}
	if !inclReasoning {
		res.Output += int64(rs)
	}
	return &res
}
