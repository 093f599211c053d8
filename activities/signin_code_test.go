package activities_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/internal/twiliofake"
	"github.com/carepath/carepath/platform"
)

func TestSignInCodeSenderTextsOnlyTheCode(t *testing.T) {
	cfg := testenv.Config(t)
	fake := twiliofake.New(cfg.TwilioAccountSID, cfg.TwilioAuthToken)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg.TwilioAPIBase = srv.URL
	tw, err := platform.NewTwilio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sender := &activities.SignInCodeSender{Twilio: tw, From: cfg.TwilioFromNumber}
	if err := sender.SendSignInCode(context.Background(), "+919000000001", "042917"); err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || msgs[0].To != "+919000000001" || !strings.Contains(msgs[0].Body, "042917") || msgs[0].From != cfg.TwilioFromNumber {
		t.Fatalf("messages %+v", msgs)
	}
	if err := sender.SendSignInCode(context.Background(), "+919000000001", "take metformin"); err == nil {
		t.Error("sent a code that is not digits")
	}
	fake.FailNext(500)
	if err := sender.SendSignInCode(context.Background(), "+919000000001", "123456"); err == nil {
		t.Error("a Twilio failure was not reported")
	}
}
