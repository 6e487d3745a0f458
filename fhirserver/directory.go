package fhirserver

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage"
)

// Directory is the authorization pages' view of the FHIR data, read
// through the same searches as the API: the patients a user may pick and
// a patient's encounters. The pages only run for a signed-in user.
func Directory(res *resources.Service) smart.Directory { return directory{res} }

type directory struct{ res *resources.Service }

// pages is the server's own authority for what the pages list.
var pages = access.System("authorization-pages")

func (d directory) Patients(ctx context.Context, name string, limit int) ([]smart.Choice, error) {
	q := url.Values{"_count": {strconv.Itoa(limit)}, "_elements": {"name,birthDate"}}
	if name != "" {
		q.Set("name", name)
	}
	return d.choices(ctx, "Patient", q, patientLabel)
}

func (d directory) Patient(ctx context.Context, id string) (smart.Choice, error) {
	r, err := d.res.Read(ctx, pages, storage.Key{Type: "Patient", ID: id})
	if err != nil {
		if outcome.Is(err, outcome.NotFound) || outcome.Is(err, outcome.Gone) {
			return smart.Choice{}, storage.ErrNotFound
		}
		return smart.Choice{}, err
	}
	return smart.Choice{ID: id, Label: patientLabel(r.Body)}, nil
}

func (d directory) Encounter(ctx context.Context, id string) (smart.Choice, error) {
	r, err := d.res.Read(ctx, pages, storage.Key{Type: "Encounter", ID: id})
	if err != nil {
		if outcome.Is(err, outcome.NotFound) || outcome.Is(err, outcome.Gone) {
			return smart.Choice{}, storage.ErrNotFound
		}
		return smart.Choice{}, err
	}
	var e struct {
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	}
	_ = json.Unmarshal(r.Body, &e)
	patient, _ := strings.CutPrefix(e.Subject.Reference, "Patient/")
	return smart.Choice{ID: id, Label: encounterLabel(r.Body), Patient: patient}, nil
}

func (d directory) Encounters(ctx context.Context, patient string, limit int) ([]smart.Choice, error) {
	q := url.Values{"patient": {patient}, "_count": {strconv.Itoa(limit)}, "_sort": {"-date"}}
	return d.choices(ctx, "Encounter", q, encounterLabel)
}

func (d directory) choices(ctx context.Context, typ string, q url.Values, label func([]byte) string) ([]smart.Choice, error) {
	r, err := d.res.Search(ctx, pages, typ, q, resources.Options{}, nil)
	if err != nil {
		return nil, err
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return nil, err
	}
	out := make([]smart.Choice, 0, len(b.Entry))
	for _, e := range b.Entry {
		var id struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(e.Resource, &id) == nil {
			out = append(out, smart.Choice{ID: id.ID, Label: label(e.Resource)})
		}
	}
	return out, nil
}

func patientLabel(body []byte) string {
	var p struct {
		Name []struct {
			Text   string   `json:"text"`
			Given  []string `json:"given"`
			Family string   `json:"family"`
		} `json:"name"`
		BirthDate string `json:"birthDate"`
	}
	_ = json.Unmarshal(body, &p)
	label := "(no name)"
	if len(p.Name) > 0 {
		n := p.Name[0]
		label = n.Text
		if label == "" {
			label = strings.TrimSpace(strings.Join(append(n.Given, n.Family), " "))
		}
	}
	if p.BirthDate != "" {
		label += ", born " + p.BirthDate
	}
	return label
}

func encounterLabel(body []byte) string {
	var e struct {
		Type []struct {
			Text   string `json:"text"`
			Coding []struct {
				Display string `json:"display"`
			} `json:"coding"`
		} `json:"type"`
		Period struct {
			Start string `json:"start"`
		} `json:"period"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &e)
	what := "Encounter"
	if len(e.Type) > 0 {
		what = e.Type[0].Text
		if what == "" && len(e.Type[0].Coding) > 0 {
			what = e.Type[0].Coding[0].Display
		}
	}
	return strings.TrimSpace(what + " " + e.Period.Start + " (" + e.Status + ")")
}
