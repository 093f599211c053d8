package activities_test

import (
	"reflect"
	"testing"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
)

// Workflows call activities by the names in package contract; the worker
// registers the structs here, whose methods' names are the activity names.
// A name with no method, or a method taking another package's input, would
// fail only when a journey reached that step.
func TestContractNamesAreActivityMethods(t *testing.T) {
	structs := []any{&activities.Journeys{}, &activities.Inference{}, &activities.Knowledge{}, &activities.Booking{},
		&activities.Payments{}, &activities.Messaging{}, &activities.Prescriptions{}, &activities.Pharmacy{},
		&activities.Labs{}, &activities.Adherence{}, &activities.Diet{}}
	methods := map[string]reflect.Method{}
	for _, s := range structs {
		typ := reflect.TypeOf(s)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			if prev, dup := methods[m.Name]; dup {
				t.Errorf("%s is a method of %s and of %s: Temporal registers one activity per name", m.Name, prev.Type.In(0), typ)
			}
			methods[m.Name] = m
		}
	}
	contractPkg := reflect.TypeOf(contract.HoldSlotInput{}).PkgPath()
	for _, name := range contract.Names {
		m, ok := methods[name]
		if !ok {
			t.Errorf("contract.%s names no activity method", name)
			continue
		}
		// Receiver, ctx, input.
		if m.Type.NumIn() != 3 || m.Type.In(2).PkgPath() != contractPkg {
			t.Errorf("activity %s does not take one input of package contract: %s", name, m.Type)
		}
	}
}
