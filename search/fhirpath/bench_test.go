package fhirpath

import "testing"

// BenchmarkInvariants evaluates ele-1 and per-1, which the validator runs
// on every element and every Period, on small inputs.
func BenchmarkInvariants(b *testing.B) {
	ele1 := mustCompile(b, "hasValue() or (children().count() > id.count())")
	per1 := mustCompile(b, "start.hasValue().not() or end.hasValue().not() or (start <= end)")
	period := decodeAny(b, `{"start":"2020-01-01T10:00:00Z","end":"2020-01-02"}`)
	coding := decodeAny(b, `{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}`)
	primitive := Node{Value: "final", Type: "code"}
	for _, bb := range []struct {
		name  string
		x     *Expression
		focus any
	}{
		{"ele-1/object", ele1, coding},
		{"ele-1/primitive", ele1, primitive},
		{"per-1", per1, period},
	} {
		b.Run(bb.name+"/Check", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _, err := bb.x.Check(bb.focus, Env{}); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(bb.name+"/EvaluateOn", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bb.x.EvaluateOn(bb.focus, Env{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustCompile(t testing.TB, src string) *Expression {
	t.Helper()
	x, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
