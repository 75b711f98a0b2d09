package agentsrc

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"chainlog/pricing"
)

// usage is what one event reports about a model call: the tokens, the
// model, and the cost when the source states it.
type usage struct {
	tokens  pricing.Usage
	total   int64 // tokens counted, where no breakdown is given
	counted bool  // some token count was reported
	model   string
	cost    float64
	hasCost bool
}

// attrUsage reads the token counts of a log record's or span's attributes,
// in any of the naming schemes of the sources (docs/sources.md lists them).
// Input never includes cached tokens in the result: where a source counts
// cached tokens inside its input count (OpenAI, Gemini), they are moved.
func attrUsage(a pcommon.Map) usage {
	var u usage
	u.model = attrStr(a, "model", "gen_ai.response.model", "gen_ai.request.model",
		"llm.response.model", "llm.request.model", "llm.model_name")
	if c, ok := attrFloat(a, "cost_usd"); ok {
		u.cost, u.hasCost = c, true
	}
	count := func(dst *int64, keys ...string) bool {
		for _, k := range keys {
			if n, ok := attrCount(a, k); ok {
				*dst += n
				u.counted = true
				return true
			}
		}
		return false
	}
	t := &u.tokens
	// Anthropic-style counts: input excludes the cache.
	count(&t.InputTokens, "input_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "llm.usage.prompt_tokens")
	count(&t.OutputTokens, "output_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "llm.usage.completion_tokens")
	count(&t.CacheReadTokens, "cache_read_tokens", "gen_ai.usage.cache_read_input_tokens")
	count(&t.CacheWriteTokens, "cache_creation_tokens", "gen_ai.usage.cache_creation_input_tokens")
	// Codex and Gemini CLI counts: input includes the cached tokens.
	var in, cached int64
	count(&in, "input_token_count")
	count(&in, "tool_token_count")
	count(&t.OutputTokens, "output_token_count")
	count(&t.OutputTokens, "thoughts_token_count")
	count(&cached, "cached_token_count", "cached_content_token_count")
	cached = min(cached, in)
	t.InputTokens += in - cached
	t.CacheReadTokens += cached
	if !u.counted {
		for _, k := range []string{"total_token_count", "llm.usage.total_tokens", "gen_ai.usage.total_tokens"} {
			if n, ok := attrCount(a, k); ok {
				u.total = n
				break
			}
		}
	}
	return u
}

// apply fills the event's model, token count and cost: the cost the source
// reports, else the price table's cost when the model and the tokens are
// known.
func (u usage) apply(ev *eventFields, prices *pricing.Table) {
	if u.model != "" {
		ev.model = u.model
	}
	switch {
	case u.counted:
		n := u.tokens.Total()
		ev.tokens = &n
	case u.total > 0:
		n := u.total
		ev.tokens = &n
	}
	if u.hasCost {
		c := u.cost
		ev.cost = &c
		return
	}
	if u.counted && u.model != "" {
		if p, ok := prices.Lookup(u.model); ok {
			c := p.Cost(u.tokens)
			ev.cost = &c
		}
	}
}
