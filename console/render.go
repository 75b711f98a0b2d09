package console

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"chainlog"
)

// pages are the templates, each rendered inside layout.html.
var pages = []string{"overview", "events", "event", "session", "costs", "verify", "login", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"thousands": chainlog.Thousands,
		"upper":     strings.ToUpper,
		"deref":     deref,
		"short": func(s string) string {
			if len(s) > 16 {
				return s[:16] + "…"
			}
			return s
		},
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		out[p] = t
	}
	return out, nil
}

// layoutData is what every page gets.
type layoutData struct {
	Title  string
	Page   string
	CSRF   string
	Logout bool // a session cookie can be dropped
	Body   any
}

// render writes page with data, inside the layout, with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	var buf bytes.Buffer
	ld := layoutData{Title: title, Page: page, CSRF: c.csrf(r), Logout: c.cfg.Token != "" && c.session(r), Body: data}
	if err := c.tmpl[page].Execute(&buf, ld); err != nil {
		c.cfg.Logger.Error("console: render", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
