package onnxgraph

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX Runtime reading these models is tested in package inference (the
// image slot tests); here, the encoding itself.
func TestMarshalIsDeterministicAndWellFormed(t *testing.T) {
	m := Model{
		Opsets:   map[string]int64{"": 13, "ai.onnx.ml": 3},
		Producer: "test",
		Metadata: map[string]string{"b": "2", "a": "1"},
		Graph: Graph{
			Name:         "g",
			Nodes:        []Node{{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []Attr{IntAttr("k", -1), FloatAttr("f", 0.5), IntsAttr("v", 1, 2)}}},
			Initializers: []Tensor{{Name: "w", Dims: []int64{2}, Floats: []float32{1, 2}}, {Name: "i", Dims: []int64{1}, Int64s: []int64{-3}}},
			Inputs:       []ValueInfo{FloatTensor("x", -1, 2)},
			Outputs:      []ValueInfo{FloatTensor("y", -1, 2)},
		},
	}
	first := m.Marshal()
	for range 20 {
		if !bytes.Equal(first, m.Marshal()) {
			t.Fatal("Marshal is not deterministic (map order leaked into the bytes)")
		}
	}
	fields := map[protowire.Number]int{}
	for b := first; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 {
			v, m := protowire.ConsumeVarint(b)
			if v != 8 {
				t.Errorf("ir_version = %d, want 8", v)
			}
			n = m
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		fields[num]++
	}
	want := map[protowire.Number]int{1: 1, 2: 1, 7: 1, 8: 2, 14: 2}
	for num, count := range want {
		if fields[num] != count {
			t.Errorf("ModelProto field %d appears %d times, want %d", num, fields[num], count)
		}
	}
}
