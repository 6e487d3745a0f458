package fhirpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const patient = `{"resourceType":"Patient","id":"p1",
	"birthDate":"1970-03-04",
	"_gender":{"id":"g","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},
	"name":[{"family":"Doe","given":["Jo",null,"Al"],"_given":[null,{"extension":[{"url":"http://e/nick","valueString":"J"}]},{"id":"g3"}]}],
	"telecom":[{"system":"phone","value":"1"},{"system":"email","value":"a@b"}],
	"multipleBirthInteger":2,
	"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}],
	"managingOrganization":{"reference":"#o1"}}`

// TestEvaluateOn covers the operators and functions the invariants use,
// with a Patient as focus and %resource.
func TestEvaluateOn(t *testing.T) {
	p := decode(t, patient)
	tests := []struct {
		expr string
		want []string
	}{
		// logic, three-valued
		{"true and {}", []string{}},
		{"false and {}", []string{`boolean:false`}},
		{"true or {}", []string{`boolean:true`}},
		{"{} or false", []string{}},
		{"true xor false", []string{`boolean:true`}},
		{"true xor {}", []string{}},
		{"false implies {}", []string{`boolean:true`}},
		{"{} implies true", []string{`boolean:true`}},
		{"{} implies false", []string{}},
		{"true implies false", []string{`boolean:false`}},
		{"{}.not()", []string{}},
		// comparison and arithmetic
		{"1 < 2", []string{`boolean:true`}},
		{"2.5 >= 2", []string{`boolean:true`}},
		{"'abc' < 'abd'", []string{`boolean:true`}},
		{"birthDate < @1971", []string{`boolean:true`}},
		{"birthDate > @1970-03-01", []string{`boolean:true`}},
		{"birthDate = @1970-03-04", []string{`boolean:true`}},
		{"birthDate < @1970-03", []string{}},
		{"@2020-01-01T10:00:00+02:00 = @2020-01-01T08:00:00Z", []string{`boolean:true`}},
		{"@T10:00 < @T10:30", []string{`boolean:true`}},
		{"1 + 2 * 3", []string{`integer:7`}},
		{"7 div 2", []string{`integer:3`}},
		{"7 mod 2", []string{`integer:1`}},
		{"7 / 2", []string{`decimal:3.5`}},
		{"1 / 0", []string{}},
		{"-2 + 5", []string{`integer:3`}},
		{"'a' + 'b'", []string{`string:"ab"`}},
		{"'a' + {}", []string{}},
		{"'a' & {}", []string{`string:"a"`}},
		{"(1 | 2 | 2).count()", []string{`integer:2`}},
		{"1 = 1.0", []string{`boolean:true`}},
		{"'a' ~ 'A'", []string{`boolean:true`}},
		{"{} = 1", []string{}},
		{"telecom.system = 'phone'", []string{`boolean:false`}},
		// membership and collections
		{"'phone' in telecom.system", []string{`boolean:true`}},
		{"telecom.system contains 'fax'", []string{`boolean:false`}},
		{"{} in telecom.system", []string{}},
		{"telecom.system.distinct().count()", []string{`integer:2`}},
		{"(telecom.system | telecom.system).isDistinct()", []string{`boolean:true`}},
		{"telecom.system.combine(telecom.system).isDistinct()", []string{`boolean:false`}},
		{"telecom.select(system & ':' & value)", []string{`string:"phone:1"`, `string:"email:a@b"`}},
		{"telecom.where($index = 1).system", []string{`"email"`}},
		{"telecom.all(value.exists())", []string{`boolean:true`}},
		{"telecom.exists(system = 'email')", []string{`boolean:true`}},
		{"telecom.tail().system", []string{`"email"`}},
		{"telecom.skip(1).take(1).system", []string{`"email"`}},
		{"telecom.system.intersect('email' | 'fax')", []string{`"email"`}},
		{"telecom.system.exclude('email')", []string{`"phone"`}},
		{"(true | false).allTrue()", []string{`boolean:false`}},
		{"iif(telecom.exists(), 'y', 'n')", []string{`string:"y"`}},
		{"telecom.first().iif(system = 'phone', 1, 2)", []string{`integer:1`}},
		{"telecom.trace('t').count()", []string{`integer:2`}},
		// strings
		{"name.family.startsWith('D')", []string{`boolean:true`}},
		{"name.family.contains('oe')", []string{`boolean:true`}},
		{"name.family.length()", []string{`integer:3`}},
		{"name.family.substring(1, 1)", []string{`string:"o"`}},
		{"name.family.matches('^D[a-z]+$')", []string{`boolean:true`}},
		{"name.family.replaceMatches('o', '0')", []string{`string:"D0e"`}},
		{"name.family.upper()", []string{`string:"DOE"`}},
		{"'12'.toInteger() + 1", []string{`integer:13`}},
		{"'1.5'.toDecimal()", []string{`decimal:1.5`}},
		{"'x'.toInteger()", []string{}},
		{"multipleBirth.toString()", []string{`string:"2"`}},
		{"'5'.convertsToInteger()", []string{`boolean:true`}},
		// types: JSON does not say birthDate is a date; its shape does
		{"birthDate is date", []string{`boolean:true`}},
		{"birthDate is String", []string{`boolean:true`}},
		{"birthDate is integer", []string{`boolean:false`}},
		{"multipleBirth is integer", []string{`boolean:true`}},
		{"multipleBirth is Integer", []string{`boolean:true`}},
		{"multipleBirth.ofType(boolean)", []string{}},
		{"name.family.as(code)", []string{`code:"Doe"`}},
		{"%resource is Patient and %resource is DomainResource", []string{`boolean:true`}},
		{"managingOrganization.resolve().name", []string{`"Org"`}},
		{"%ucum", []string{`string:"http://unitsofmeasure.org"`}},
		// primitives with extensions
		{"gender.exists()", []string{`boolean:true`}},
		{"gender.hasValue()", []string{`boolean:false`}},
		{"gender.id", []string{`"g"`}},
		{"gender.extension('http://hl7.org/fhir/StructureDefinition/data-absent-reason').value", []string{`code:"unknown"`}},
		{"birthDate.hasValue()", []string{`boolean:true`}},
		{"name.given.count()", []string{`integer:3`}},
		{"name.given.where(hasValue()).count()", []string{`integer:2`}},
		{"name.given.extension.value", []string{`string:"J"`}},
		{"name.given.id", []string{`"g3"`}},
		{"name.children().count()", []string{`integer:4`}},
		{"name.children().count() = name.children().select($this).count()", []string{`boolean:true`}},
		{"descendants().where(url = 'http://e/nick').count()", []string{`integer:1`}},
		{"contained.descendants().count()", []string{`integer:2`}},
	}
	for _, tt := range tests {
		x, err := Compile(tt.expr)
		require.NoError(t, err, tt.expr)
		got, err := x.EvaluateOn(p, Env{})
		require.NoError(t, err, tt.expr)
		assert.Equal(t, tt.want, values(got), tt.expr)
	}
}

// TestSearchDoesNotSeeExtensions: Evaluate keeps its old behaviour, where
// a primitive's `_name` object is not navigated.
func TestSearchDoesNotSeeExtensions(t *testing.T) {
	p := decode(t, patient)
	for expr, want := range map[string][]string{
		"Patient.gender":                 {},
		"Patient.name.given":             {`"Jo"`, `"Al"`},
		"Patient.name.given.extension":   {},
		"Patient.birthDate.as(date)":     {},
		"Patient.telecom.system | 'sms'": {`"phone"`, `"email"`, `string:"sms"`},
	} {
		x, err := Compile(expr)
		require.NoError(t, err, expr)
		got, err := x.Evaluate(p)
		require.NoError(t, err, expr)
		assert.Equal(t, want, values(got), expr)
	}
}

func TestEvaluateOnPrimitiveFocus(t *testing.T) {
	ele1 := mustCompile(t, "hasValue() or (children().count() > id.count())")
	for _, tt := range []struct {
		focus any
		want  string
	}{
		{"x", "true"},
		{Node{Value: "x", Type: "code"}, "true"},
		{Node{Ext: map[string]any{"extension": []any{map[string]any{"url": "u", "valueCode": "c"}}}}, "true"},
		{Node{Ext: map[string]any{"id": "a"}}, "false"},
	} {
		r, e, err := ele1.Check(tt.focus, Env{})
		require.NoError(t, err)
		assert.Equal(t, tt.want, verdict(r, e), "%v", tt.focus)
	}
	isString := mustCompile(t, "$this is String and $this is code and %context.length() = 1")
	ok, _, err := isString.Check(Node{Value: "x", Type: "code"}, Env{})
	require.NoError(t, err)
	assert.True(t, ok)
	r, err := mustCompile(t, "%resource.id | %rootResource.id").EvaluateOn("x", Env{
		Resource: map[string]any{"resourceType": "Patient", "id": "c"}, RootResource: map[string]any{"resourceType": "Bundle", "id": "b"}})
	require.NoError(t, err)
	assert.Equal(t, []string{`"c"`, `"b"`}, values(r))
}

func TestCompileMore(t *testing.T) {
	for _, src := range []string{"@2020-01-01T10:00:00.123+01:00", "@T10:00", "{}", "a // comment", "a /* c */ .b", "-1", "%sct", "%loinc"} {
		_, err := Compile(src)
		assert.NoError(t, err, src)
	}
	for _, src := range []string{"@x", "'a'.matches('(')", "%vs-unknown", "a.substring()"} {
		_, err := Compile(src)
		assert.Error(t, err, src)
	}
}

// TestCheckConcurrently shares compiled expressions and the pooled
// evaluation state between goroutines (run with -race).
func TestCheckConcurrently(t *testing.T) {
	per1 := mustCompile(t, "start.hasValue().not() or end.hasValue().not() or (start <= end)")
	good := decodeAny(t, `{"start":"2020-01-01","end":"2020-01-02"}`)
	bad := decodeAny(t, `{"start":"2020-01-03","end":"2020-01-02"}`)
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 500; i++ {
				r1, _, err1 := per1.Check(good, Env{})
				r2, _, err2 := per1.Check(bad, Env{})
				ok = ok && r1 && !r2 && err1 == nil && err2 == nil
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		assert.True(t, <-done)
	}
}
