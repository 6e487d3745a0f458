package fhirpath

import (
	"maps"
	"slices"
)

// choiceNames are the names of R4's choice elements (value[x],
// effective[x], ...) in any resource or data type: only these may be
// present under a typed name (valueQuantity). A child that is absent by
// its own name and is not one of them is absent, without looking through
// every member of the object for a typed name: that search was the
// largest single cost of extracting a resource's search index, since most
// parameters name elements a resource does not have. The profiles package
// checks the list against the definitions.
var choiceNames = map[string]bool{
	"abatement": true, "additive": true, "age": true, "allowed": true, "amount": true, "answer": true, "asNeeded": true,
	"author": true, "born": true, "bounds": true, "characteristic": true, "chargeItem": true, "code": true, "collected": true,
	"content": true, "created": true, "date": true, "deceased": true, "defaultValue": true, "definingSubstance": true,
	"definition": true, "detail": true, "diagnosis": true, "dose": true, "doseNumber": true, "due": true, "duration": true,
	"effective": true, "entity": true, "event": true, "example": true, "fastingStatus": true, "fixed": true, "identified": true,
	"indication": true, "instances": true, "item": true, "legallyBinding": true, "location": true, "manufacturer": true,
	"maxValue": true, "medication": true, "minValue": true, "minimumVolume": true, "module": true, "multipleBirth": true,
	"name": true, "occurred": true, "occurrence": true, "offset": true, "onset": true, "participantEffective": true,
	"pattern": true, "performed": true, "probability": true, "procedure": true, "product": true, "quantity": true, "rate": true,
	"reported": true, "scheduled": true, "seriesDoses": true, "serviced": true, "source": true, "start": true,
	"statusReason": true, "studyEffective": true, "subject": true, "substance": true, "target": true, "time": true,
	"timing": true, "topic": true, "used": true, "value": true, "when": true,
}

// ChoiceNames lists the element names that may be choices, sorted.
func ChoiceNames() []string { return slices.Sorted(maps.Keys(choiceNames)) }
