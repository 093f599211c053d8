package activities

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// SignInCodeSender sends one-time sign-in codes through Twilio (package
// auth calls it). A code is essential and not clinical text: the message
// carries the code and nothing else, and it ignores quiet hours and
// opt-outs, as a user asking for a code is awake and wants it. It is not a
// Temporal activity: the user is waiting for it on the request.
type SignInCodeSender struct {
	Twilio TwilioAPI
	From   string // an E.164 number or a Messaging Service SID ("MG...")
}

const signInCodeText = "CarePath: your sign-in code is %s. It expires in 5 minutes. Never share it; CarePath will not ask for it."

var signInCode = regexp.MustCompile(`^[0-9]{4,8}$`)

// SendSignInCode texts code to phone.
func (s *SignInCodeSender) SendSignInCode(ctx context.Context, phone, code string) error {
	if !signInCode.MatchString(code) {
		return errors.New("send sign-in code: the code must be 4 to 8 digits")
	}
	req := &twapi.CreateMessageParams{}
	req.SetTo(phone)
	req.SetBody(fmt.Sprintf(signInCodeText, code))
	if strings.HasPrefix(s.From, "MG") {
		req.SetMessagingServiceSid(s.From)
	} else {
		req.SetFrom(s.From)
	}
	if _, err := s.Twilio.API(ctx).CreateMessage(req); err != nil {
		var te *twclient.TwilioRestError
		if errors.As(err, &te) {
			return fmt.Errorf("send sign-in code: twilio error %d (HTTP %d)", te.Code, te.Status)
		}
		return fmt.Errorf("send sign-in code: %w", err)
	}
	return nil
}
