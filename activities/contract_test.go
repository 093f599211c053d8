package activities_test

import (
	"reflect"
	"testing"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/store"
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

// The booking and lab inputs, and the lab result, are converted to and from
// the store's requests and rows field by field; Go's conversion ignores
// struct tags, so this checks the JSON names agree too (they are in recorded
// histories, and the store's are what histories recorded before the
// contract had its own types).
func TestContractTypesKeepTheStoresJSONNames(t *testing.T) {
	pairs := []struct{ contract, store any }{
		{contract.HoldSlotInput{}, store.HoldSlotRequest{}},
		{contract.AppointmentInput{}, store.AppointmentRequest{}},
		{contract.DoctorResponseInput{}, store.DoctorResponseRequest{}},
		{contract.RescheduleInput{}, store.RescheduleRequest{}},
		{contract.CloseEncounterInput{}, store.CloseEncounterRequest{}},
		{contract.BookLabTestsInput{}, store.BookLabTestsRequest{}},
		{contract.RecordLabResultInput{}, store.RecordLabObservationRequest{}},
		{contract.LabObservation{}, store.LabObservation{}},
	}
	for _, p := range pairs {
		c, s := reflect.TypeOf(p.contract), reflect.TypeOf(p.store)
		if c.NumField() != s.NumField() {
			t.Errorf("%s has %d fields, %s %d", c, c.NumField(), s, s.NumField())
			continue
		}
		for i := range c.NumField() {
			cf, sf := c.Field(i), s.Field(i)
			if cf.Name != sf.Name || cf.Type != sf.Type || cf.Tag.Get("json") != sf.Tag.Get("json") {
				t.Errorf("%s.%s %s `json:%q` differs from %s.%s %s `json:%q`", c, cf.Name, cf.Type, cf.Tag.Get("json"),
					s, sf.Name, sf.Type, sf.Tag.Get("json"))
			}
		}
	}
}
