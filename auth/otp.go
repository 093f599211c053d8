package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// CodeSender delivers a sign-in code by SMS. The code is not clinical text;
// the message carries nothing else.
type CodeSender interface {
	SendSignInCode(ctx context.Context, phone, code string) error
}

// One-time code limits: a code lives CodeTTL and allows CodeAttempts wrong
// guesses, so a 6-digit code is guessed with odds of 5 in a million per code.
const (
	CodeTTL      = 5 * time.Minute
	CodeAttempts = 5
	codeDigits   = 6
)

// ErrSMSUnavailable: SMS sign-in is not configured on this server.
var ErrSMSUnavailable = errors.New("sms sign-in is not configured")

// Redis keys are derived from a hash of the phone number, so that a dump of
// Redis does not list who is signing in.
func codeKey(phone string) string {
	sum := sha256.Sum256([]byte(phone))
	return "auth:sms-code:" + hex.EncodeToString(sum[:16])
}

// attemptsKey counts a number's wrong codes apart from the code itself, so
// that a number with no code outstanding (an unknown one) runs out of
// attempts exactly as a known one does.
func attemptsKey(phone string) string {
	sum := sha256.Sum256([]byte(phone))
	return "auth:sms-attempts:" + hex.EncodeToString(sum[:16])
}

// RequestCode sends a fresh code to the user with this phone. An unknown
// number gets the same answer as a known one (nil) so that the endpoint does
// not reveal who has an account; no SMS is sent to it. For the same reason a
// failure to text a known number is logged, not answered.
func (s *Service) RequestCode(ctx context.Context, phone string) error {
	if s.redis == nil || s.sms == nil {
		return fmt.Errorf("request code: %w", ErrSMSUnavailable)
	}
	// A new code request resets the attempts, known number or not.
	if err := s.redis.Del(ctx, attemptsKey(phone)).Err(); err != nil {
		return fmt.Errorf("request code: %w", err)
	}
	_, err := s.findUser(ctx, `phone = $1`, phone)
	if errors.Is(err, pgx.ErrNoRows) {
		s.logger.InfoContext(ctx, "Sign-in code requested for an unknown number")
		return nil
	}
	if err != nil {
		return fmt.Errorf("request code: %w", err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return fmt.Errorf("request code: %w", err)
	}
	code := fmt.Sprintf("%0*d", codeDigits, n.Int64())
	sum := sha256.Sum256([]byte(code))
	key := codeKey(phone)
	// A new code replaces the old one and resets the attempts.
	if err := s.redis.HSet(ctx, key, "hash", hex.EncodeToString(sum[:])).Err(); err != nil {
		return fmt.Errorf("request code: store: %w", err)
	}
	if err := s.redis.Expire(ctx, key, CodeTTL).Err(); err != nil {
		return fmt.Errorf("request code: store: %w", err)
	}
	if err := s.sms.SendSignInCode(ctx, phone, code); err != nil {
		s.logger.ErrorContext(ctx, "Sign-in code not sent", "error", err)
	}
	return nil
}

// VerifyCode checks a code and, when right, uses it up and issues tokens.
// Unknown and known numbers are answered alike: a wrong code, or none
// outstanding, is ErrInvalidCredentials, and past CodeAttempts tries the
// number gets ErrTooManyAttempts until a new code is requested.
func (s *Service) VerifyCode(ctx context.Context, phone, code string) (Tokens, error) {
	if s.redis == nil {
		return Tokens{}, fmt.Errorf("verify code: %w", ErrSMSUnavailable)
	}
	key, tries := codeKey(phone), attemptsKey(phone)
	// Count the attempt before comparing, atomically, so parallel guesses
	// cannot exceed the limit.
	attempts, err := s.redis.Incr(ctx, tries).Result()
	if err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	if attempts == 1 {
		if err := s.redis.Expire(ctx, tries, CodeTTL).Err(); err != nil {
			return Tokens{}, fmt.Errorf("verify code: %w", err)
		}
	}
	if attempts > CodeAttempts {
		if err := s.redis.Del(ctx, key).Err(); err != nil {
			return Tokens{}, fmt.Errorf("verify code: %w", err)
		}
		return Tokens{}, fmt.Errorf("verify code: %w", ErrTooManyAttempts)
	}
	stored, err := s.redis.HGet(ctx, key, "hash").Result()
	if errors.Is(err, redis.Nil) {
		return Tokens{}, fmt.Errorf("verify code: %w", ErrInvalidCredentials)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	sum := sha256.Sum256([]byte(code))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(stored)) != 1 {
		return Tokens{}, fmt.Errorf("verify code: %w", ErrInvalidCredentials)
	}
	// Del returns 1 only for the caller that removed it: a code works once.
	n, err := s.redis.Del(ctx, key).Result()
	if err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	if n != 1 {
		return Tokens{}, fmt.Errorf("verify code: %w", ErrInvalidCredentials)
	}
	if err := s.redis.Del(ctx, tries).Err(); err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	u, err := s.findUser(ctx, `phone = $1`, phone)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tokens{}, fmt.Errorf("verify code: %w", ErrInvalidCredentials)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	out, err := s.issuePair(ctx, u, newFamily())
	if err != nil {
		return Tokens{}, fmt.Errorf("verify code: %w", err)
	}
	return out, nil
}
