package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// sessionCookie holds a console session: a random nonce and its HMAC under
// the console's key, so that only this daemon's login could have set it.
// It never holds the token.
const sessionCookie = "chainlog_console"

// auth wraps a page: without a token configured it serves it; with one, it
// wants a session cookie or the bearer token, and answers 401 with the
// login page otherwise.
func (c *Console) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.Token != "" && !c.session(r) && !c.bearer(r) {
			w.Header().Set("Cache-Control", "no-store")
			c.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{Next: r.URL.RequestURI()})
			return
		}
		h(w, r)
	}
}

func (c *Console) bearer(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[7:]), []byte(c.cfg.Token)) == 1
}

// session reports whether r carries a session cookie this console set.
func (c *Console) session(r *http.Request) bool {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	nonce, mac, ok := strings.Cut(ck.Value, ".")
	return ok && subtle.ConstantTimeCompare([]byte(mac), []byte(c.sign("session:"+nonce))) == 1
}

// csrf returns the token a form of r's page posts back: bound to the
// session cookie when there is one.
func (c *Console) csrf(r *http.Request) string {
	v := ""
	if ck, err := r.Cookie(sessionCookie); err == nil {
		v = ck.Value
	}
	return c.sign("csrf:" + v)
}

// checkPost refuses a form post from another site: the browser says it
// came from elsewhere, or its CSRF token is not the one this page gave.
func (c *Console) checkPost(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf(r))) == 1
}

type loginData struct {
	Next  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", "Log in", loginData{Next: localPath(r.URL.Query().Get("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	if c.cfg.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(c.cfg.Token)) != 1 {
		c.cfg.Logger.Info("console: login refused", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{Next: next, Error: "That is not the daemon's token."})
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	nonce := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: nonce + "." + c.sign("session:"+nonce), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !c.checkPost(r) {
		http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath returns p when it is a path on this host, "/" otherwise, so
// that a login never redirects elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}
