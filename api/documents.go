package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/vault"
)

// Documents: PDF reports and images in a patient's record, sealed at rest
// (package vault) under a data key of their own.

const (
	documentsRoute       = "/api/v1/patients/:id/documents"
	documentContentRoute = "/api/v1/patients/:id/records/:rid/content"
	// maxDocumentBytes bounds an uploaded document.
	maxDocumentBytes = 10 << 20
)

// documentTypes are the content types a document may have, as sniffed
// from its bytes (http.DetectContentType).
var documentTypes = []string{"application/pdf", "image/png", "image/jpeg"}

// RecordsOptions is where documents are kept and the keys that seal them.
type RecordsOptions struct {
	Keyring *vault.Keyring
	Objects vault.ObjectStore
}

// documentMeta is the "metadata" part of an upload.
type documentMeta struct {
	Title       string `json:"title"`
	Date        string `json:"date"`
	EncounterID string `json:"encounter_id"`
	// Signature, when present, is the uploader's signature of the
	// document (signatures.go); it is verified before anything is stored.
	Signature *uploadSignature `json:"signature"`
}

func (s *Server) objects() vault.ObjectStore { return s.records.Objects }

// readUpload reads the multipart upload: a "metadata" JSON part and a
// "file" part.
func readUpload(c *gin.Context) (documentMeta, []byte, error) {
	var meta documentMeta
	form, err := c.MultipartForm()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return meta, nil, &malformedError{detail: fmt.Sprintf("the upload is larger than %d bytes", tooBig.Limit)}
		}
		return meta, nil, &malformedError{detail: "send multipart/form-data with a \"metadata\" JSON part and a \"file\" part"}
	}
	if len(form.Value["metadata"]) != 1 {
		return meta, nil, &invalidError{fields: []FieldError{{Pointer: "/metadata", Detail: "send one metadata part (JSON: title, date, encounter_id)"}}}
	}
	if err := decodeStrict(strings.NewReader(form.Value["metadata"][0]), &meta); err != nil {
		return meta, nil, &invalidError{fields: []FieldError{{Pointer: "/metadata", Detail: "must be a JSON object with title, date, for doctors encounter_id, and optionally signature"}}}
	}
	if len(form.File["file"]) != 1 {
		return meta, nil, &invalidError{fields: []FieldError{{Pointer: "/file", Detail: "send one file part"}}}
	}
	data, err := readPart(form.File["file"][0])
	return meta, data, err
}

func readPart(h *multipart.FileHeader) ([]byte, error) {
	f, err := h.Open()
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return data, nil
}

func validateDocument(meta documentMeta, data []byte) (store.HealthRecord, error) {
	var errs []FieldError
	date, err := time.Parse(dateLayout, meta.Date)
	if err != nil || futureDate(date, time.Now()) {
		errs = append(errs, FieldError{Pointer: "/metadata/date", Detail: "must be a date as YYYY-MM-DD, not in the future"})
	}
	if strings.TrimSpace(meta.Title) == "" || len(meta.Title) > 500 {
		errs = append(errs, FieldError{Pointer: "/metadata/title", Detail: "must name the document (1 to 500 characters)"})
	}
	contentType := http.DetectContentType(data)
	if len(data) == 0 || !slices.Contains(documentTypes, contentType) {
		errs = append(errs, FieldError{Pointer: "/file", Detail: "must be a PDF, PNG or JPEG document"})
	}
	if len(errs) > 0 {
		return store.HealthRecord{}, &invalidError{fields: errs}
	}
	size := int64(len(data))
	sum := sha256.Sum256(data)
	return store.HealthRecord{Kind: "document", EffectiveDate: date, Display: strings.TrimSpace(meta.Title),
		ContentType: &contentType, SizeBytes: &size, ContentSHA256: sum[:]}, nil
}

// uploadDocument seals the document under a new data key, puts the
// ciphertext in the object store and records it.
func (s *Server) uploadDocument(c *gin.Context) {
	if s.records.Keyring == nil || s.records.Objects == nil {
		s.writeError(c, &unavailableError{detail: "document storage is not configured on this server"})
		return
	}
	meta, data, err := readUpload(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	r, err := validateDocument(meta, data)
	if err != nil {
		s.writeError(c, err)
		return
	}
	patientID := c.Param("id")
	p, encounter, err := s.author(c, patientID, meta.EncounterID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var sig *store.RecordSignature
	if meta.Signature != nil {
		checked, err := s.checkUploadSignature(c, meta.Signature, data, p.ActorID())
		if err != nil {
			s.writeError(c, err)
			return
		}
		sig = &checked
	}
	saved, err := s.storeDocument(c, r, patientID, p.ActorID(), p.Role, encounter, data, sig)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/patients/"+patientID+"/records/"+saved.ID)
	c.JSON(http.StatusCreated, viewRecord(saved))
}

// storeDocument seals data, puts the object, then inserts the row; if the
// row cannot be written the object is removed again.
func (s *Server) storeDocument(c *gin.Context, r store.HealthRecord, patientID, authorID, role string, encounter *string, data []byte,
	sig *store.RecordSignature) (store.HealthRecord, error) {
	ctx := c.Request.Context()
	r.ID, r.PatientID, r.AuthorID, r.AuthorRole, r.EncounterID = uuid.NewString(), patientID, authorID, role, encounter
	ciphertext, sealed, err := s.records.Keyring.Seal(r.ID, data)
	if err != nil {
		return r, err
	}
	key := "patients/" + patientID + "/records/" + r.ID
	r.ObjectKey, r.WrappedKey, r.MasterKeyID = &key, sealed.WrappedKey, &sealed.MasterKeyID
	if err := s.records.Objects.Put(ctx, key, ciphertext); err != nil {
		return r, err
	}
	var saved store.HealthRecord
	if sig != nil {
		sig.RecordID = r.ID
		saved, err = s.store.InsertRecordWithSignature(ctx, r, *sig)
	} else {
		saved, err = s.store.InsertRecord(ctx, r)
	}
	if err != nil {
		if delErr := s.records.Objects.Delete(ctx, key); delErr != nil {
			s.logger.ErrorContext(ctx, "Sealed document object left behind", "record", r.ID, "error", delErr)
		}
		return r, err
	}
	return saved, nil
}

// documentContent returns the decrypted document.
func (s *Server) documentContent(c *gin.Context) {
	r, err := s.visibleRecord(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if r.Kind != "document" || r.ObjectKey == nil {
		s.writeError(c, &notFoundError{detail: "this record is not a document"})
		return
	}
	data, err := s.openDocument(c, r)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Content-Disposition", "attachment")
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, deref(r.ContentType), data)
}

func (s *Server) openDocument(c *gin.Context, r store.HealthRecord) ([]byte, error) {
	if s.records.Keyring == nil || s.records.Objects == nil {
		return nil, &unavailableError{detail: "document storage is not configured on this server"}
	}
	ciphertext, err := s.records.Objects.Get(c.Request.Context(), *r.ObjectKey)
	if err != nil {
		return nil, err
	}
	return s.records.Keyring.Open(r.ID, ciphertext, vault.Sealed{WrappedKey: r.WrappedKey, MasterKeyID: deref(r.MasterKeyID)})
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
