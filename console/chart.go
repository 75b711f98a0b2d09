package console

import (
	"cmp"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"chainlog"
)

// chart is a server-rendered SVG chart and a text summary of it for
// screen readers and for the table beside it.
type chart struct {
	Title   string
	SVG     template.HTML
	Legend  []legendItem
	Summary string
}

type legendItem struct {
	Name, Color string
}

// palette colours the series; the last is for "other".
var palette = []string{"#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#65a30d", "#6b7280"}

// series is one key's value on each day.
type series struct {
	name   string
	values map[string]float64
	total  float64
}

// stackedBars draws one bar a day, stacked by series; at most
// len(palette)-1 series, the rest summed as "other".
func stackedBars(title string, days []string, ss []series, unit func(float64) string) chart {
	ss = slices.DeleteFunc(ss, func(s series) bool { return s.total <= 0 })
	slices.SortFunc(ss, func(a, b series) int { return cmp.Compare(b.total, a.total) })
	if n := len(palette) - 1; len(ss) > n {
		other := series{name: "other", values: map[string]float64{}}
		for _, s := range ss[n:] {
			for d, v := range s.values {
				other.values[d] += v
			}
			other.total += s.total
		}
		ss = append(ss[:n:n], other)
	}
	const w, h, left, bottom, top = 720, 240, 64, 28, 12
	maxDay := 0.0
	for _, d := range days {
		var sum float64
		for _, s := range ss {
			sum += s.values[d]
		}
		maxDay = max(maxDay, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" class="chart" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	plotH := float64(h - bottom - top)
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH*float64(4-i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, left, w, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>`, left-4, y+4, html.EscapeString(unit(maxDay*float64(i)/4)))
	}
	if len(days) > 0 && maxDay > 0 {
		slot := float64(w-left) / float64(len(days))
		bw := max(2, slot*0.7)
		for i, d := range days {
			x := float64(left) + slot*float64(i) + (slot-bw)/2
			y := float64(top) + plotH
			for j, s := range ss {
				v := s.values[d]
				if v <= 0 {
					continue
				}
				bh := plotH * v / maxDay
				y -= bh
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
					x, y, bw, bh, palette[min(j, len(palette)-1)], html.EscapeString(d), html.EscapeString(s.name), html.EscapeString(unit(v)))
			}
			if len(days) <= 14 || i%(len(days)/7+1) == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, x+bw/2, h-8, html.EscapeString(shortDay(d)))
			}
		}
	}
	b.WriteString(`</svg>`)
	c := chart{Title: title, SVG: template.HTML(b.String())}
	for j, s := range ss {
		c.Legend = append(c.Legend, legendItem{Name: s.name, Color: palette[min(j, len(palette)-1)]})
	}
	return c
}

// shortDay is "MM-DD" of "YYYY-MM-DD".
func shortDay(d string) string {
	if len(d) == 10 {
		return d[5:]
	}
	return d
}

// line draws a small line chart of points over the last hour.
func line(title string, at []time.Time, vals []float64, now time.Time, unit func(float64) string) chart {
	const w, h, left, bottom, top = 360, 120, 48, 20, 8
	maxV := 1.0
	for _, v := range vals {
		maxV = max(maxV, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" class="chart small" xmlns="http://www.w3.org/2000/svg"><title>%s</title>`,
		w, h, html.EscapeString(title), html.EscapeString(title))
	plotH, plotW := float64(h-bottom-top), float64(w-left)
	for i := 0; i <= 2; i++ {
		y := float64(top) + plotH*float64(2-i)/2
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>`,
			left, w, y, y, left-4, y+4, html.EscapeString(unit(maxV*float64(i)/2)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">-60 min</text><text x="%d" y="%d" class="axis" text-anchor="end">now</text>`, left, h-4, w, h-4)
	var pts []string
	for i, t := range at {
		x := float64(left) + plotW*(1-now.Sub(t).Minutes()/60)
		y := float64(top) + plotH*(1-vals[i]/maxV)
		pts = append(pts, strconv.FormatFloat(x, 'f', 1, 64)+","+strconv.FormatFloat(y, 'f', 1, 64))
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return chart{Title: title, SVG: template.HTML(b.String())}
}

// hourCharts draws the ingest rate (events a minute between samples) and
// the queue depth over the last hour of samples.
func (c *Console) hourCharts() (rate, queue chart, queueNow int64) {
	ss := c.lastHour()
	now := c.cfg.Now()
	var rat, qat []time.Time
	var rv, qv []float64
	for i, s := range ss {
		if now.Sub(s.at) > time.Hour {
			continue
		}
		qat, qv = append(qat, s.at), append(qv, float64(s.queue))
		if i > 0 {
			if dt := s.at.Sub(ss[i-1].at).Minutes(); dt > 0 {
				rat, rv = append(rat, s.at), append(rv, max(0, float64(s.events-ss[i-1].events))/dt)
			}
		}
	}
	count := func(v float64) string {
		if v < 10 && v != float64(int64(v)) {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return chainlog.Thousands(int64(v + 0.5))
	}
	rate = line("Events committed a minute, last hour", rat, rv, now, count)
	queue = line("Events queued, last hour", qat, qv, now, count)
	if len(rv) > 0 {
		rate.Summary = count(rv[len(rv)-1]) + " events a minute"
	} else {
		rate.Summary = "no samples yet (one a minute)"
	}
	if len(ss) > 0 {
		queueNow = ss[len(ss)-1].queue
	}
	if c.cfg.QueueDepth != nil {
		queueNow = c.cfg.QueueDepth()
	}
	return rate, queue, queueNow
}

// costsData is the costs page.
type costsData struct {
	Days                            int
	CostModel, CostAgent, TokModel  chart
	Rows                            []chainlog.CostDay
	TotalCost, TotalTokens, Elapsed string
}

func (c *Console) costs(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	days := 30
	if n, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && n >= 1 && n <= 366 {
		days = n
	}
	now := c.cfg.Now().UTC()
	since := now.AddDate(0, 0, -days+1).Truncate(24 * time.Hour)
	rows, err := c.cfg.Store.Costs(r.Context(), since)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var dayList []string
	for d := since; !d.After(now); d = d.AddDate(0, 0, 1) {
		dayList = append(dayList, d.Format("2006-01-02"))
	}
	byModel, byAgent, tokModel := map[string]*series{}, map[string]*series{}, map[string]*series{}
	var cost float64
	var tokens int64
	add := func(m map[string]*series, key, day string, v float64) {
		s := m[key]
		if s == nil {
			s = &series{name: key, values: map[string]float64{}}
			m[key] = s
		}
		s.values[day] += v
		s.total += v
	}
	for _, row := range rows {
		model := cmp.Or(row.Model, "(no model)")
		add(byModel, model, row.Day, row.CostUSD)
		add(byAgent, row.AgentID, row.Day, row.CostUSD)
		add(tokModel, model, row.Day, float64(row.Tokens))
		cost += row.CostUSD
		tokens += row.Tokens
	}
	list := func(m map[string]*series) []series {
		var out []series
		for _, s := range m {
			out = append(out, *s)
		}
		return out
	}
	usd := func(v float64) string {
		if cost < 10*float64(days) { // small amounts: the axis needs cents' fractions
			return fmt.Sprintf("$%.4f", v)
		}
		return fmt.Sprintf("$%.2f", v)
	}
	tok := func(v float64) string { return chainlog.Thousands(int64(v + 0.5)) }
	d := costsData{Days: days, Rows: rows, TotalCost: fmt.Sprintf("$%.4f", cost), TotalTokens: chainlog.Thousands(tokens),
		CostModel: stackedBars("Cost per day by model", dayList, list(byModel), usd),
		CostAgent: stackedBars("Cost per day by agent", dayList, list(byAgent), usd),
		TokModel:  stackedBars("Tokens per day by model", dayList, list(tokModel), tok)}
	d.Elapsed = time.Since(start).Round(time.Microsecond).String()
	c.render(w, r, http.StatusOK, "costs", "Costs", d)
}
