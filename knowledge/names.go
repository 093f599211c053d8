package knowledge

import (
	"strings"
	"unicode"
)

// noiseTokens are words prescribers add to a drug name that do not change
// which ingredient it is: dose units and dose forms. They are dropped only
// after the first word, so a brand such as "Tums" survives.
var noiseTokens = map[string]bool{
	"mg": true, "mcg": true, "µg": true, "g": true, "ml": true, "iu": true, "unit": true, "units": true,
	"tablet": true, "tablets": true, "tab": true, "tabs": true, "capsule": true, "capsules": true,
	"cap": true, "caps": true, "oral": true, "syrup": true, "suspension": true, "solution": true,
	"injection": true, "inj": true, "cream": true, "ointment": true, "gel": true, "drops": true,
	"inhaler": true, "er": true, "sr": true, "mr": true, "xr": true, "cr": true, "la": true, "od": true,
}

// NormalizeName turns what a person typed into the key names are stored
// under: lower case, single spaces, no dose strength or dose form
// ("Metformin 500 mg tablets" -> "metformin").
func NormalizeName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("’", "'", "‘", "'", "–", "-", "—", "-").Replace(s)
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == '(' || r == ')'
	})
	out := fields[:0]
	for i, f := range fields {
		f = strings.Trim(f, ".;:")
		if f == "" {
			continue
		}
		if i > 0 && (noiseTokens[f] || isStrength(f)) {
			continue
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

// isStrength reports whether a token is a dose such as "500", "2.5mg" or "10%".
func isStrength(f string) bool {
	i := 0
	for i < len(f) && (f[i] >= '0' && f[i] <= '9' || f[i] == '.' || f[i] == '/') {
		i++
	}
	if i == 0 {
		return false
	}
	return noiseTokens[f[i:]] || f[i:] == "" || f[i:] == "%"
}

// editDistance is the optimal string alignment distance (Levenshtein plus
// adjacent transpositions), the usual model of a typing slip.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// allowedEdits is how many slips a name of this length may carry and still
// be recognised: none for very short names, where one slip makes another
// drug, and at most two.
func allowedEdits(n int) int {
	switch {
	case n <= 4:
		return 0
	case n <= 7:
		return 1
	default:
		return 2
	}
}

// luceneQuery builds a full-text query that finds names close to key: each
// word may be misspelt or only begun.
func luceneQuery(key string) string {
	words := strings.FieldsFunc(key, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var parts []string
	for _, w := range words {
		if len([]rune(w)) < 2 {
			continue
		}
		fuzz := "~1"
		if len([]rune(w)) > 7 {
			fuzz = "~2"
		}
		parts = append(parts, "("+w+fuzz+" OR "+w+"*)")
	}
	return strings.Join(parts, " AND ")
}
