// Package onnxgraph writes small ONNX models from Go: a graph of standard
// operators with float initializers and string metadata, encoded as the
// ONNX ModelProto protobuf. It exists so that tests (and anyone filling the
// image diagnostics slot by hand) can build a model without Python; it is
// not a general ONNX toolkit.
//
// Field numbers follow onnx/onnx.proto (IR version 8).
package onnxgraph

import (
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Element types from onnx.TensorProto.DataType.
const (
	Float = 1
	Int64 = 7
)

// Model is an ONNX model: a graph, the opsets it uses and metadata.
type Model struct {
	IRVersion int64            // 8 unless set
	Opsets    map[string]int64 // domain ("" is the default domain) to version
	Producer  string
	Graph     Graph
	Metadata  map[string]string
}

// Graph is a list of nodes in topological order with its initializers,
// inputs and outputs.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is one operator.
type Node struct {
	OpType  string
	Name    string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Attr is a node attribute: exactly one of Int, Ints or Float is set.
type Attr struct {
	Name  string
	Int   *int64
	Ints  []int64
	Float *float32
}

// IntAttr, IntsAttr and FloatAttr build attributes.
func IntAttr(name string, v int64) Attr     { return Attr{Name: name, Int: &v} }
func IntsAttr(name string, v ...int64) Attr { return Attr{Name: name, Ints: v} }
func FloatAttr(name string, v float32) Attr { return Attr{Name: name, Float: &v} }

// Tensor is a constant (an initializer). Set Floats or Int64s.
type Tensor struct {
	Name   string
	Dims   []int64
	Floats []float32
	Int64s []int64
}

// ValueInfo declares a graph input or output tensor.
type ValueInfo struct {
	Name     string
	ElemType int32
	Dims     []Dim
}

// Dim is a fixed size (Value) or a named, free one (Param, e.g. "N").
type Dim struct {
	Value int64
	Param string
}

// FloatTensor declares a float tensor input or output; a negative size is a
// free dimension named "N".
func FloatTensor(name string, dims ...int64) ValueInfo {
	v := ValueInfo{Name: name, ElemType: Float}
	for _, d := range dims {
		if d < 0 {
			v.Dims = append(v.Dims, Dim{Param: "N"})
		} else {
			v.Dims = append(v.Dims, Dim{Value: d})
		}
	}
	return v
}

// Marshal encodes the model as ONNX protobuf bytes.
func (m Model) Marshal() []byte {
	ir := m.IRVersion
	if ir == 0 {
		ir = 8
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, uint64(ir))
	if m.Producer != "" {
		b = appendString(b, 2, m.Producer)
	}
	b = appendMessage(b, 7, m.Graph.marshal())
	// Sorted, so that the same model always encodes to the same bytes.
	for _, domain := range slices.Sorted(maps.Keys(m.Opsets)) {
		version := m.Opsets[domain]
		var o []byte
		if domain != "" {
			o = appendString(o, 1, domain)
		}
		o = protowire.AppendTag(o, 2, protowire.VarintType)
		o = protowire.AppendVarint(o, uint64(version))
		b = appendMessage(b, 8, o)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		b = appendMessage(b, 14, appendString(appendString(nil, 1, k), 2, m.Metadata[k]))
	}
	return b
}

func (g Graph) marshal() []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendMessage(b, 1, n.marshal())
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendMessage(b, 5, t.marshal())
	}
	for _, v := range g.Inputs {
		b = appendMessage(b, 11, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendMessage(b, 12, v.marshal())
	}
	return b
}

func (n Node) marshal() []byte {
	var b []byte
	for _, in := range n.Inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, 2, out)
	}
	if n.Name != "" {
		b = appendString(b, 3, n.Name)
	}
	b = appendString(b, 4, n.OpType)
	for _, a := range n.Attrs {
		b = appendMessage(b, 5, a.marshal())
	}
	return b
}

// AttributeProto.AttributeType values.
const (
	attrFloat = 1
	attrInt   = 2
	attrInts  = 7
)

func (a Attr) marshal() []byte {
	b := appendString(nil, 1, a.Name)
	switch {
	case a.Float != nil:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(*a.Float))
		b = appendVarintField(b, 20, attrFloat)
	case a.Int != nil:
		b = appendVarintField(b, 3, uint64(*a.Int))
		b = appendVarintField(b, 20, attrInt)
	default:
		for _, v := range a.Ints {
			b = appendVarintField(b, 8, uint64(v))
		}
		b = appendVarintField(b, 20, attrInts)
	}
	return b
}

func (t Tensor) marshal() []byte {
	var b []byte
	for _, d := range t.Dims {
		b = appendVarintField(b, 1, uint64(d))
	}
	if t.Int64s != nil {
		b = appendVarintField(b, 2, Int64)
		var packed []byte
		for _, v := range t.Int64s {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, packed)
	} else {
		b = appendVarintField(b, 2, Float)
		var packed []byte
		for _, v := range t.Floats {
			packed = protowire.AppendFixed32(packed, math.Float32bits(v))
		}
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, packed)
	}
	return appendString(b, 8, t.Name)
}

func (v ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Dims {
		var dim []byte
		if d.Param != "" {
			dim = appendString(dim, 2, d.Param)
		} else {
			dim = appendVarintField(dim, 1, uint64(d.Value))
		}
		shape = appendMessage(shape, 1, dim)
	}
	tensorType := appendVarintField(nil, 1, uint64(v.ElemType))
	tensorType = appendMessage(tensorType, 2, shape)
	typeProto := appendMessage(nil, 1, tensorType)
	b := appendString(nil, 1, v.Name)
	return appendMessage(b, 2, typeProto)
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendVarintField(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}
