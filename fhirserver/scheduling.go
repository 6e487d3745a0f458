package fhirserver

import (
	"github.com/fhirserver/fhirserver/operations/breakglass"
	"github.com/fhirserver/fhirserver/operations/scheduling"
)

// Scheduling runs the scheduling operations (operations/scheduling:
// $availability, $block, $find, $book, $events, $waitlist); nil answers
// them 501.
type Scheduling = *scheduling.Op

// BreakGlass runs Patient/[id]/$break-glass (operations/breakglass); nil
// answers it 501.
type BreakGlass = *breakglass.Op
