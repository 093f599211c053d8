package platform

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/carepath/carepath/config"
)

// twilioAPIHost is the host twilio-go addresses for the REST API (2010-04-01),
// which is where Messages live.
const twilioAPIHost = "api.twilio.com"

// Twilio builds twilio-go clients whose REST API calls go to TWILIO_API_BASE
// (the local fake, or Twilio itself) with the account's credentials.
//
// twilio-go has no context parameter and a fixed base URL, so each call gets
// a client whose transport rewrites api.twilio.com to the configured base and
// attaches the caller's context: a cancelled activity cancels its request.
type Twilio struct {
	AccountSID string
	// From is the sender: an E.164 number, or a Messaging Service SID ("MG...").
	From      string
	authToken string
	base      *url.URL
	transport http.RoundTripper
	timeout   time.Duration
}

// NewTwilio returns a Twilio client factory configured from cfg.
func NewTwilio(cfg config.Config) (*Twilio, error) {
	return NewTwilioWithTransport(cfg, http.DefaultTransport)
}

// NewTwilioWithTransport is NewTwilio with the HTTP transport under the
// rewrite, for tests that watch the requests.
func NewTwilioWithTransport(cfg config.Config, transport http.RoundTripper) (*Twilio, error) {
	base, err := url.Parse(strings.TrimRight(cfg.TwilioAPIBase, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("platform: TWILIO_API_BASE %q is not an absolute URL", cfg.TwilioAPIBase)
	}
	return &Twilio{
		AccountSID: cfg.TwilioAccountSID, From: cfg.TwilioFromNumber, authToken: cfg.TwilioAuthToken,
		base: base, transport: transport, timeout: 15 * time.Second,
	}, nil
}

// API returns a twilio-go REST API (2010-04-01) client bound to ctx.
func (t *Twilio) API(ctx context.Context) *twapi.ApiService {
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.AccountSID, t.authToken),
		HTTPClient: &http.Client{
			Transport: &twilioRewrite{ctx: ctx, base: t.base, next: t.transport},
			Timeout:   t.timeout,
			// Twilio's own client does not follow redirects either.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.AccountSID)
	return twapi.NewApiServiceWithClient(c)
}

// twilioRewrite sends api.twilio.com requests to the configured base URL,
// under the caller's context.
type twilioRewrite struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
}

func (r *twilioRewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(r.ctx)
	if req.URL.Host == twilioAPIHost {
		out.URL.Scheme = r.base.Scheme
		out.URL.Host = r.base.Host
		out.URL.Path = r.base.Path + req.URL.Path
		out.URL.RawPath = ""
		out.Host = r.base.Host
	}
	return r.next.RoundTrip(out)
}
