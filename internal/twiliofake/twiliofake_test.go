package twiliofake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/twiliofake"
	"github.com/carepath/carepath/platform"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "faketoken123"
)

func newFake(t *testing.T) (*twiliofake.Server, *httptest.Server) {
	fake := twiliofake.New(sid, token)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

// twilio-go, aimed at the fake by platform.NewTwilio, is accepted and
// decodes the answer as it would Twilio's.
func TestTwilioGoSendsThroughTheFake(t *testing.T) {
	fake, srv := newFake(t)
	tw, err := platform.NewTwilio(config.Config{TwilioAccountSID: sid, TwilioAuthToken: token, TwilioAPIBase: srv.URL, TwilioFromNumber: "+15005550006"})
	if err != nil {
		t.Fatal(err)
	}
	params := &twapi.CreateMessageParams{}
	params.SetTo("+919000000001")
	params.SetFrom("+15005550006")
	params.SetBody("CarePath: hello")
	msg, err := tw.API(context.Background()).CreateMessage(params)
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if msg.Sid == nil || !strings.HasPrefix(*msg.Sid, "SM") || msg.Status == nil || *msg.Status != "queued" ||
		msg.AccountSid == nil || *msg.AccountSid != sid || msg.To == nil || *msg.To != "+919000000001" {
		t.Errorf("message = %+v", msg)
	}
	got := fake.Messages()
	if len(got) != 1 || got[0].Body != "CarePath: hello" || got[0].SID != *msg.Sid {
		t.Errorf("fake holds %+v", got)
	}

	// A Messaging Service instead of a From number.
	params = &twapi.CreateMessageParams{}
	params.SetTo("+919000000001")
	params.SetMessagingServiceSid("MG0123456789abcdef0123456789abcdef")
	params.SetBody("CarePath: hello again")
	if _, err := tw.API(context.Background()).CreateMessage(params); err != nil {
		t.Errorf("with a Messaging Service: %v", err)
	}

	// Twilio's error document reaches twilio-go as a TwilioRestError.
	fake.Block("+919000000002")
	params.SetTo("+919000000002")
	_, err = tw.API(context.Background()).CreateMessage(params)
	var te *twclient.TwilioRestError
	if !errors.As(err, &te) || te.Code != 21610 || te.Status != 400 {
		t.Errorf("to a blocked number: %v, want Twilio error 21610", err)
	}
}

// A cancelled context cancels the request: twilio-go has no context of its
// own, so platform.Twilio carries it in the transport.
func TestTwilioClientHonoursTheContext(t *testing.T) {
	_, srv := newFake(t)
	tw, err := platform.NewTwilio(config.Config{TwilioAccountSID: sid, TwilioAuthToken: token, TwilioAPIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	params := &twapi.CreateMessageParams{}
	params.SetTo("+919000000001")
	params.SetFrom("+15005550006")
	params.SetBody("x")
	if _, err := tw.API(ctx).CreateMessage(params); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestFakeChecksTheRequestAsTwilioDoes(t *testing.T) {
	fake, srv := newFake(t)
	path := "/2010-04-01/Accounts/" + sid + "/Messages.json"
	good := url.Values{"To": {"+919000000001"}, "From": {"+15005550006"}, "Body": {"hi"}}
	cases := []struct {
		name         string
		method, path string
		user, pass   string
		contentType  string
		form         url.Values
		status, code int
	}{
		{"no credentials", "POST", path, "", "", "application/x-www-form-urlencoded", good, 401, 20003},
		{"wrong token", "POST", path, sid, "nope", "application/x-www-form-urlencoded", good, 401, 20003},
		{"another account's path", "POST", "/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json", sid, token, "application/x-www-form-urlencoded", good, 404, 20404},
		{"wrong path", "POST", "/2010-04-01/Messages.json", sid, token, "application/x-www-form-urlencoded", good, 404, 20404},
		{"GET", "GET", path, sid, token, "", nil, 405, 20004},
		{"JSON body", "POST", path, sid, token, "application/json", good, 400, 21620},
		{"no To", "POST", path, sid, token, "application/x-www-form-urlencoded", url.Values{"From": {"+15005550006"}, "Body": {"hi"}}, 400, 21604},
		{"To not E.164", "POST", path, sid, token, "application/x-www-form-urlencoded", url.Values{"To": {"09000000001"}, "From": {"+15005550006"}, "Body": {"hi"}}, 400, 21211},
		{"no sender", "POST", path, sid, token, "application/x-www-form-urlencoded", url.Values{"To": {"+919000000001"}, "Body": {"hi"}}, 400, 21603},
		{"no body", "POST", path, sid, token, "application/x-www-form-urlencoded", url.Values{"To": {"+919000000001"}, "From": {"+15005550006"}}, 400, 21602},
		{"body too long", "POST", path, sid, token, "application/x-www-form-urlencoded", url.Values{"To": {"+919000000001"}, "From": {"+15005550006"}, "Body": {strings.Repeat("a", 1601)}}, 400, 21617},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.form.Encode()))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Code   int `json:"code"`
			Status int `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Errorf("%s: body is not Twilio's error JSON: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || body.Code != c.code || body.Status != c.status {
			t.Errorf("%s: %d code %d, want %d code %d", c.name, resp.StatusCode, body.Code, c.status, c.code)
		}
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("the fake accepted %d bad requests", n)
	}

	// And the good request, raw: 201 with the message resource.
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(good.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(sid, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || msg["status"] != "queued" || msg["direction"] != "outbound-api" || msg["num_segments"] != "1" ||
		!strings.HasPrefix(msg["sid"].(string), "SM") || len(msg["sid"].(string)) != 34 {
		t.Errorf("created: %d %v", resp.StatusCode, msg)
	}
}

func TestFakeOutageThenRecovery(t *testing.T) {
	fake, srv := newFake(t)
	tw, _ := platform.NewTwilio(config.Config{TwilioAccountSID: sid, TwilioAuthToken: token, TwilioAPIBase: srv.URL})
	fake.FailNext(503)
	params := &twapi.CreateMessageParams{}
	params.SetTo("+919000000001")
	params.SetFrom("+15005550006")
	params.SetBody("x")
	var te *twclient.TwilioRestError
	if _, err := tw.API(context.Background()).CreateMessage(params); !errors.As(err, &te) || te.Status != 503 {
		t.Errorf("during the outage: %v, want a 503", err)
	}
	if _, err := tw.API(context.Background()).CreateMessage(params); err != nil {
		t.Errorf("after: %v", err)
	}
	if len(fake.Messages()) != 1 || fake.Requests() != 2 {
		t.Errorf("messages %d, requests %d; want 1 and 2", len(fake.Messages()), fake.Requests())
	}
}
