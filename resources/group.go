package resources

import (
	"context"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// carePatients is the store, or a transaction, that says which patients
// a request held to care relationships sees.
type carePatients interface {
	CarePatients(ctx context.Context) ([]string, error)
}

// redactGroups drops, from the Groups among vs, the members that are
// patients the caller may not see (another patient than the one in
// context; one outside a user's care), so that a Group a patient is in
// does not list the others. What is left is tagged SUBSETTED, and loses
// its narrative, which may name them; the stored version is untouched.
// Versions of other types cost nothing.
func (s *Service) redactGroups(ctx context.Context, q carePatients, c access.Caller, i access.Interaction, vs []storage.Version) error {
	if !slices.ContainsFunc(vs, redactable) {
		return nil
	}
	sees, err := patientsSeen(ctx, q, c, i)
	if err != nil {
		return err
	}
	return redactSeen(vs, sees)
}

func redactable(v storage.Version) bool {
	return v.Type == "Group" && !v.Deleted && len(v.Resource) > 0
}

// redactSeen is redactGroups once it is known which patients the Groups
// may list (sees; nil: any).
func redactSeen(vs []storage.Version, sees func(string) bool) error {
	if sees == nil {
		return nil
	}
	for n := range vs {
		if !redactable(vs[n]) {
			continue
		}
		body, err := dropMembers(vs[n].Resource, sees)
		if err != nil {
			return err
		}
		vs[n].Resource = body
	}
	return nil
}

// redactGroup is redactGroups for one version read outside a transaction.
func (s *Service) redactGroup(ctx context.Context, c access.Caller, i access.Interaction, v *storage.Version) error {
	if v.Type != "Group" {
		return nil
	}
	vs := []storage.Version{*v}
	if err := s.redactGroups(ctx, s.store, c, i, vs); err != nil {
		return err
	}
	*v = vs[0]
	return nil
}

// patientsSeen says which patients a Group read by c may list; nil: any.
func patientsSeen(ctx context.Context, q carePatients, c access.Caller, i access.Interaction) (func(string) bool, error) {
	if p := c.PatientOf("Group", i); p != "" {
		return func(id string) bool { return id == p }, nil
	}
	if c.Care == nil {
		return nil, nil
	}
	ids, err := q.CarePatients(ctx)
	if err != nil {
		return nil, err
	}
	return func(id string) bool { return slices.Contains(ids, id) }, nil
}

// dropMembers returns body without the members naming a patient sees
// refuses, or body itself when it keeps them all.
func dropMembers(body []byte, sees func(string) bool) ([]byte, error) {
	obj, err := profiles.Decode(body)
	if err != nil {
		return nil, err
	}
	members, _ := obj["member"].([]any)
	kept := make([]any, 0, len(members))
	for _, m := range members {
		entity, _ := m.(map[string]any)["entity"].(map[string]any)
		if entity == nil || !namesHiddenPatient(entity, sees) {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(members) {
		return body, nil
	}
	if len(kept) == 0 {
		delete(obj, "member")
	} else {
		obj["member"] = kept
	}
	delete(obj, "text")
	tagSubsetted(obj)
	return encode(obj)
}

// namesHiddenPatient reports whether a Reference names a Patient that
// sees refuses; one named by identifier alone cannot be shown seen.
func namesHiddenPatient(ref map[string]any, sees func(string) bool) bool {
	r, hasRef := ref["reference"].(string)
	typ, _ := ref["type"].(string)
	if !hasRef {
		return typ == "Patient" && ref["identifier"] != nil
	}
	refType, id := referenceTarget(r)
	if refType == "" {
		refType = typ
	}
	return refType == "Patient" && !sees(id)
}

// tagSubsetted adds R4's SUBSETTED tag to a resource, once.
func tagSubsetted(obj map[string]any) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	if !isSubsetted(tags) {
		meta["tag"] = append(tags, subsetted)
	}
}

func isSubsetted(tags []any) bool {
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && m["system"] == subsetted["system"] && m["code"] == subsetted["code"] {
			return true
		}
	}
	return false
}

// refuseSubsetted keeps an incomplete form of a resource (a _summary, an
// _elements or a filtered Group, as read) from replacing the whole.
func refuseSubsetted(typ string, obj map[string]any) error {
	meta, _ := obj["meta"].(map[string]any)
	if tags, _ := meta["tag"].([]any); isSubsetted(tags) {
		return outcome.E(outcome.Unprocessable, "this %s is tagged SUBSETTED: an incomplete form as read, which cannot be stored; send the whole resource without the tag", typ).At(typ + ".meta.tag")
	}
	return nil
}
