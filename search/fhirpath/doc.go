// Package fhirpath compiles FHIRPath expressions and evaluates them over
// resources decoded from JSON (map[string]any, []any, string, json.Number,
// bool), for two callers: search parameter expressions (Evaluate) and the
// invariants of StructureDefinitions (EvaluateOn, Check, Truthy). Every
// constraint expression of FHIR R4 (resources, data types, core
// extensions) and US Core 6.1.0 compiles; an expression using anything
// not covered fails to compile, so that nothing is silently skipped.
//
// Covered: paths and choice types (value[x]), indexing, `{}`, string,
// number, boolean and @date/@dateTime/@time literals; the operators
// implies, or, xor, and (three-valued, short-circuit), in, contains, = !=
// ~ !~, < <= > >=, |, is, as, + - * / div mod, &, unary minus; $this,
// $index, %resource, %rootResource, %context, %ucum, %sct, %loinc; the
// functions empty, exists, all, allTrue, anyTrue, allFalse, anyFalse,
// subsetOf, supersetOf, count, distinct, isDistinct, where, select,
// repeat, ofType, as, is, single, first, last, tail, skip, take,
// intersect, exclude, union, combine, iif, trace (a no-op), children,
// descendants, not, hasValue, getValue, the to*/convertsTo* conversions
// (Boolean, Integer, Decimal, String, Date, DateTime, Time), length,
// startsWith, endsWith, contains, indexOf, substring, upper, lower, trim,
// replace, matches, replaceMatches, toChars, abs, ceiling, floor,
// truncate, round, sqrt, exp, ln, now, today, timeOfDay, and FHIR's
// extension(url), resolve and htmlChecks.
//
// Not covered, or covered by a stand-in: Quantity literals and unit
// conversion (quantities compare only in the same unit, else empty);
// date arithmetic; aggregate() ($total is empty); memberOf, conformsTo, subsumes,
// subsumedBy, lowBoundary and highBoundary answer empty (unknown): the
// validator checks bindings and profiles itself; htmlChecks is true when
// the value is a <div> with some content, the XHTML rules are the
// validator's. resolve() finds contained resources ("#id", in
// %rootResource); any other reference resolves to a stub that has only
// the type named by the reference, which is what `resolve() is Patient`
// needs. matches() uses Go's RE2 in single-line mode, unanchored.
// Decimals are float64. A collection of several items where one is
// expected is an error for comparison, arithmetic and string functions,
// but true for boolean operators.
//
// Types are known where JSON carries them: a resource's resourceType, the
// suffix of a choice element (valueQuantity is a Quantity), a literal, a
// cast with as(), a focus Node given with its Type. In an invariant
// (EvaluateOn), an untyped JSON value is of the types its shape allows: a
// string is a String and any FHIR string type (code, uri, canonical...),
// and a date, dateTime, instant or time when it reads as one; a number is
// a decimal, and an integer without a fraction. Evaluate (search) keeps
// to the declared types only. Strings that read as dates compare as
// dates, at their common precision (empty when they agree there but one
// is more precise); a dateTime without a timezone is taken as UTC.
//
// In an invariant, a primitive carries its FHIR JSON `_name` object
// (Node.Ext), so hasValue(), id, extension and children() see it, and a
// primitive that has only extensions is a node without a value.
// Evaluate does not, so search results are as they always were.
package fhirpath
