package chainlog

import (
	"encoding/json"

	"chainlog/pricing"
)

// BackfillResult counts what a store's BackfillCosts did: it sets cost_usd,
// and token_count where it is NULL, through the amendment trail, on every
// event that has no cost but whose payload reports token usage of a model
// in the price table.
type BackfillResult struct {
	Costed       int `json:"costed"`        // events that got a cost_usd
	TokensFilled int `json:"tokens_filled"` // events that also got a token_count
	NoUsage      int `json:"no_usage"`      // events without cost and without usage in their payload
	UnknownModel int `json:"unknown_model"` // events with usage whose model is not in the price table
}

// BackfillActor is the actor recorded on the amendments BackfillCosts makes.
const BackfillActor = "chainlog backfill-costs"

// BackfillPatch prices one event for a cost backfill: data is its payload,
// model its model column ("" when NULL), and tokensNull whether its
// token_count is NULL. It returns the patch that records the cost (and the
// token count, when it was NULL), or false when the event cannot be priced,
// counting the outcome in res either way.
func BackfillPatch(prices *pricing.Table, data []byte, model string, tokensNull bool, res *BackfillResult) (Patch, bool) {
	usage, payloadModel, ok := pricing.UsageFromPayload(json.RawMessage(data))
	if !ok {
		res.NoUsage++
		return Patch{}, false
	}
	if model == "" {
		model = payloadModel
	}
	price, ok := prices.Lookup(model)
	if !ok {
		res.UnknownModel++
		return Patch{}, false
	}
	cost, tokens := price.Cost(usage), usage.Total()
	p := Patch{Set: []string{FieldCostUSD}, Values: Mutable{CostUSD: &cost}}
	if tokensNull {
		p.Set = append(p.Set, FieldTokenCount)
		p.Values.TokenCount = &tokens
		res.TokensFilled++
	}
	res.Costed++
	return p, true
}
