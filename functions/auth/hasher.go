package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Hasher hashes new passwords and checks submitted ones. Login calls Compare
// exactly once per checked attempt, against the account's hash or, for an
// unknown id, a dummy hash of the same cost, so both take the same time
// (SPEC §4.1); tests count the calls through this interface.
type Hasher interface {
	// Hash returns a bcrypt hash of password.
	Hash(password string) (string, error)
	// Compare reports whether password matches hash; a malformed hash or an
	// over-long password is a mismatch.
	Compare(hash, password string) bool
}

// Bcrypt is the production Hasher. Cost applies to new hashes only; hashes of
// any cost verify (the seed's are cost 10).
type Bcrypt struct{ Cost int }

// Hash implements Hasher.
func (b Bcrypt) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), b.Cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Compare implements Hasher.
func (b Bcrypt) Compare(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// dummyHash hashes a random password nobody knows: unknown ids are checked
// against it so they cost one full comparison like real ones.
func dummyHash(h Hasher) (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return h.Hash(hex.EncodeToString(b))
}
