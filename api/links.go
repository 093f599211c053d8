package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/store"
)

// shortLinkRoute is where the short links in texts lead
// (activities.ShortLinkPath): a random token that stands for an app path,
// such as a journey's page, for a week. It is public, as a link in a text
// is opened before anyone signs in; the page it leads to asks for sign-in
// as any other does. The token names nothing, so the text does not say
// whose journey or which course it is about.
const shortLinkRoute = "/l/:token"

// followShortLink redirects (302) to the path a token stands for, or
// answers 404 for a token that is unknown or has expired: the two look the
// same, so probing tells nothing. The token is never logged (the route is).
func (s *Server) followShortLink(c *gin.Context) {
	l, err := s.store.ResolveShortLink(c.Request.Context(), c.Param("token"))
	if errors.Is(err, store.ErrNotFound) {
		s.writeError(c, &notFoundError{detail: "this link is unknown or has expired; sign in to CarePath to find your journey"})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	// Only a path on this site: never another host ("//host", "/\host").
	if !strings.HasPrefix(l.Target, "/") || strings.HasPrefix(l.Target, "//") || strings.ContainsAny(l.Target, "\\\r\n") {
		s.writeError(c, &notFoundError{detail: "this link is unknown or has expired"})
		return
	}
	// Neither the redirect nor the page it leads to should be cached, nor
	// the token sent on as a Referer.
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, l.Target)
}
