//! What an incremental update changed (ISO 32000-1 §12.8.2, PAdES ETSI EN 319 142-1
//! §5.4): the objects a later revision rewrites are compared with the earlier
//! revision's, and every rewritten object must be *explained* by a change a signer may
//! make after signing — a new signature, a document timestamp, validation data (DSS),
//! a filled form field, an annotation. Whatever is left unexplained (a page's content,
//! the page tree, a font, an old signature's value) is a modification of what was
//! signed: this is what catches shadow attacks, which all work by overwriting or adding
//! objects in a later revision.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use super::document::Document;
use super::object::{differing_keys, lossy, same_value, Dict, Object};
use super::structure::{acroform, catalog, form_fields, page_tree, FieldNode};
use super::xref::XrefEntry;
use super::PdfError;

/// How far a change goes, in the order DocMDP permits them (§12.8.2.2, Table 254).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeLevel {
    /// Document timestamps, DSS/VRI validation data, document information and XMP
    /// metadata: allowed even under DocMDP P=1 (PAdES-LTA must be able to extend).
    ValidationData,
    /// A further signature (field, widget, value).
    Signature,
    /// A form field's value (DocMDP P=2 and P=3).
    FormFill,
    /// An annotation added, changed or removed (DocMDP P=3 only).
    Annotation,
    /// Anything else: never allowed.
    Other,
}

#[derive(Debug, Clone)]
pub struct Change {
    /// The revision (0-based) that made it.
    pub revision: usize,
    pub level: ChangeLevel,
    pub what: String,
}

/// Every change revision `new` makes to revision `new - 1`.
pub fn changes_in(doc: &Document, new: usize) -> Result<Vec<Change>, PdfError> {
    let Some(old) = new.checked_sub(1) else {
        return Ok(Vec::new());
    };
    let mut diff = Diff {
        doc,
        old,
        new,
        rewritten: BTreeMap::new(),
        explained: HashSet::new(),
        changes: Vec::new(),
    };
    diff.collect_rewritten()?;
    diff.trailer()?;
    diff.catalog_and_form()?;
    diff.pages()?;
    diff.unexplained();
    Ok(diff.changes)
}

struct Diff<'d, 'a> {
    doc: &'d Document<'a>,
    old: usize,
    new: usize,
    /// Existing objects the new revision rewrote with a different value: (old, new).
    rewritten: BTreeMap<u32, (Rc<Object>, Rc<Object>)>,
    explained: HashSet<u32>,
    changes: Vec<Change>,
}

impl Diff<'_, '_> {
    fn note(&mut self, level: ChangeLevel, what: String) {
        self.changes.push(Change {
            revision: self.new,
            level,
            what,
        });
    }

    fn existed(&self, num: u32) -> bool {
        matches!(
            self.doc.entry(self.old, num),
            Some(XrefEntry::InFile { .. } | XrefEntry::Compressed { .. })
        )
    }

    fn collect_rewritten(&mut self) -> Result<(), PdfError> {
        let old_size = self.doc.size(self.old);
        for num in self.doc.written_in(self.new) {
            let reference = super::object::ObjRef { num, gen: 0 };
            if !self.existed(num) {
                // A number the old revision left free (or dangling) that now resolves:
                // the old revision may refer to it, so its meaning changes.
                if num < old_size {
                    self.note(
                        ChangeLevel::Other,
                        format!("object {num}, free when signed, was defined"),
                    );
                }
                continue;
            }
            let before = self.doc.resolve(self.old, reference)?;
            let after = self.doc.resolve(self.new, reference)?;
            if !same_value(&before, &after) {
                self.rewritten.insert(num, (before, after));
            }
        }
        Ok(())
    }

    /// Explains `value` when it is a reference to a rewritten object.
    fn explain(&mut self, value: Option<&Object>) -> bool {
        match value.and_then(Object::as_reference) {
            Some(reference) if self.rewritten.contains_key(&reference.num) => {
                self.explained.insert(reference.num);
                true
            }
            _ => false,
        }
    }

    fn trailer(&mut self) -> Result<(), PdfError> {
        let old = self.doc.trailer(self.old).clone();
        let new = self.doc.trailer(self.new).clone();
        if !same_opt(old.get(b"Root"), new.get(b"Root")) {
            self.note(
                ChangeLevel::Other,
                "the document catalog was replaced".into(),
            );
        }
        if !same_opt(old.get(b"Encrypt"), new.get(b"Encrypt")) {
            self.note(
                ChangeLevel::Other,
                "the encryption dictionary changed".into(),
            );
        }
        if self.explain(old.get(b"Info")) {
            self.note(
                ChangeLevel::ValidationData,
                "document information (/Info) updated".into(),
            );
        }
        Ok(())
    }

    fn catalog_and_form(&mut self) -> Result<(), PdfError> {
        let (old_catalog, new_catalog) =
            (catalog(self.doc, self.old)?, catalog(self.doc, self.new)?);
        self.explain(self.doc.trailer(self.old).get(b"Root"));
        for key in differing_keys(&old_catalog, &new_catalog) {
            match key.as_slice() {
                b"AcroForm" => {}
                b"DSS" | b"Extensions" | b"Version" => self.note(
                    ChangeLevel::ValidationData,
                    format!("catalog /{} set (validation data)", lossy(&key)),
                ),
                b"Metadata" => {
                    self.note(ChangeLevel::ValidationData, "XMP metadata replaced".into())
                }
                _ => self.note(
                    ChangeLevel::Other,
                    format!("catalog entry /{} changed", lossy(&key)),
                ),
            }
        }
        self.dss(&new_catalog)?;
        if self.explain(old_catalog.get(b"Metadata")) {
            self.note(ChangeLevel::ValidationData, "XMP metadata updated".into());
        }
        let old_form = acroform(self.doc, self.old, &old_catalog)?.unwrap_or_default();
        let new_form = acroform(self.doc, self.new, &new_catalog)?.unwrap_or_default();
        self.explain(old_catalog.get(b"AcroForm"));
        for key in differing_keys(&old_form, &new_form) {
            match key.as_slice() {
                b"Fields" => {}
                b"SigFlags" | b"DR" | b"DA" => self.note(
                    ChangeLevel::Signature,
                    format!("form /{} set for a signature", lossy(&key)),
                ),
                _ => self.note(
                    ChangeLevel::Other,
                    format!("form entry /{} changed", lossy(&key)),
                ),
            }
        }
        self.explain(old_form.get(b"Fields"));
        self.fields()
    }

    /// The DSS dictionary and its arrays and VRI entries: validation data only.
    fn dss(&mut self, new_catalog: &Dict) -> Result<(), PdfError> {
        let Some(value) = new_catalog.get(b"DSS") else {
            return Ok(());
        };
        let mut updated = self.explain(Some(value));
        let dss = self.doc.dict(self.new, value)?.unwrap_or_default();
        for key in [&b"Certs"[..], b"OCSPs", b"CRLs", b"VRI"] {
            updated |= self.explain(dss.get(key));
        }
        if let Some(vri) = dss.get(b"VRI") {
            let vri = self.doc.dict(self.new, vri)?.unwrap_or_default();
            for (_, entry) in &vri.0 {
                updated |= self.explain(Some(entry));
            }
        }
        if updated {
            self.note(
                ChangeLevel::ValidationData,
                "validation data (DSS) added".into(),
            );
        }
        Ok(())
    }

    fn fields(&mut self) -> Result<(), PdfError> {
        let old_fields = form_fields(self.doc, self.old)?;
        let new_fields = form_fields(self.doc, self.new)?;
        let old_refs: HashSet<_> = old_fields.iter().filter_map(|f| f.reference).collect();
        for field in &new_fields {
            match field.reference {
                Some(reference) if old_refs.contains(&reference) => {}
                _ if field.dict.get(b"Parent").is_some() && !field.is_signature => self.note(
                    ChangeLevel::Other,
                    format!("form field {} added", field.name),
                ),
                _ if field.is_signature => {
                    let level = self.signature_value_level(field)?;
                    self.note(level, format!("signature field {} added", field.name));
                }
                _ => self.note(
                    ChangeLevel::Other,
                    format!("form field {} added", field.name),
                ),
            }
        }
        let new_refs: HashSet<_> = new_fields.iter().filter_map(|f| f.reference).collect();
        for field in &old_fields {
            match field.reference {
                Some(reference) if !new_refs.contains(&reference) => self.note(
                    ChangeLevel::Other,
                    format!("form field {} removed", field.name),
                ),
                Some(reference) if self.rewritten.contains_key(&reference.num) => {
                    self.explained.insert(reference.num);
                    let new = self.doc.dict(self.new, &Object::Reference(reference))?;
                    self.field_changed(field, &new.unwrap_or_default())?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A document timestamp is validation data; any other signature value a signature.
    fn signature_value_level(&self, field: &FieldNode) -> Result<ChangeLevel, PdfError> {
        let value = match field.dict.get(b"V") {
            Some(value) => self.doc.dict(self.new, value)?,
            None => None,
        };
        let is_timestamp = value.is_some_and(|v| v.name(b"Type") == Some(b"DocTimeStamp"));
        Ok(if is_timestamp {
            ChangeLevel::ValidationData
        } else {
            ChangeLevel::Signature
        })
    }

    fn field_changed(&mut self, old: &FieldNode, new: &Dict) -> Result<(), PdfError> {
        let keys = differing_keys(&old.dict, new);
        let name = &old.name;
        let appearance_only = |key: &Vec<u8>| matches!(key.as_slice(), b"AP" | b"AS");
        if old.is_signature {
            let filled = old.dict.get(b"V").is_none() && new.get(b"V").is_some();
            if keys
                .iter()
                .all(|k| appearance_only(k) || (k == b"V" && filled))
            {
                let node = FieldNode {
                    dict: new.clone(),
                    ..old.clone()
                };
                let level = self.signature_value_level(&node)?;
                self.note(level, format!("signature field {name} signed"));
            } else {
                let list = keys
                    .iter()
                    .map(|k| format!("/{}", lossy(k)))
                    .collect::<Vec<_>>();
                self.note(
                    ChangeLevel::Other,
                    format!("signature field {name} changed ({})", list.join(", ")),
                );
            }
        } else if keys.iter().all(|k| appearance_only(k) || k == b"V") {
            self.note(
                ChangeLevel::FormFill,
                format!("form field {name} filled in"),
            );
        } else {
            self.note(ChangeLevel::Other, format!("form field {name} changed"));
        }
        Ok(())
    }

    fn pages(&mut self) -> Result<(), PdfError> {
        let old_catalog = catalog(self.doc, self.old)?;
        let tree = page_tree(self.doc, self.old, &old_catalog)?;
        for node in &tree.nodes {
            if self.rewritten.contains_key(&node.num) {
                self.explained.insert(node.num);
                self.note(
                    ChangeLevel::Other,
                    "the page tree changed (pages added, removed or reordered)".into(),
                );
            }
        }
        for (index, page) in tree.pages.iter().enumerate() {
            let number = index + 1;
            let old_page = self
                .doc
                .dict(self.old, &Object::Reference(*page))?
                .unwrap_or_default();
            let new_page = self
                .doc
                .dict(self.new, &Object::Reference(*page))?
                .unwrap_or_default();
            if self.rewritten.contains_key(&page.num) {
                self.explained.insert(page.num);
                for key in differing_keys(&old_page, &new_page) {
                    if key != b"Annots" {
                        self.note(
                            ChangeLevel::Other,
                            format!("page {number}: /{} changed", lossy(&key)),
                        );
                    }
                }
            }
            self.explain(old_page.get(b"Annots"));
            self.annotations(number, &old_page, &new_page)?;
        }
        Ok(())
    }

    fn annotations(
        &mut self,
        page: usize,
        old_page: &Dict,
        new_page: &Dict,
    ) -> Result<(), PdfError> {
        let list = |rev: usize, dict: &Dict| -> Result<Vec<Object>, PdfError> {
            Ok(match dict.get(b"Annots") {
                Some(value) => self
                    .doc
                    .deref(rev, value)?
                    .as_array()
                    .map(<[Object]>::to_vec),
                None => None,
            }
            .unwrap_or_default())
        };
        let old = list(self.old, old_page)?;
        let new = list(self.new, new_page)?;
        for annotation in &new {
            if !old.iter().any(|o| same_value(o, annotation)) {
                let (level, what) = self.classify_new_annotation(annotation)?;
                self.note(level, format!("page {page}: {what} added"));
            }
        }
        for annotation in &old {
            if !new.iter().any(|n| same_value(n, annotation)) {
                self.note(
                    ChangeLevel::Annotation,
                    format!("page {page}: an annotation removed"),
                );
            } else if let Some(reference) = annotation.as_reference() {
                if self.rewritten.contains_key(&reference.num)
                    && !self.explained.contains(&reference.num)
                {
                    self.explained.insert(reference.num);
                    let (old_annot, new_annot) = self.rewritten[&reference.num].clone();
                    let level = annotation_change_level(&old_annot, &new_annot);
                    self.note(
                        level,
                        format!("page {page}: annotation {} changed", reference.num),
                    );
                }
            }
        }
        Ok(())
    }

    fn classify_new_annotation(
        &self,
        annotation: &Object,
    ) -> Result<(ChangeLevel, String), PdfError> {
        let dict = self.doc.dict(self.new, annotation)?.unwrap_or_default();
        let subtype = dict.name(b"Subtype").map(lossy).unwrap_or_default();
        if subtype != "Widget" {
            return Ok((ChangeLevel::Annotation, format!("a /{subtype} annotation")));
        }
        // A widget is its field too (merged), or a kid of it (/Parent).
        let field = match (dict.get(b"FT"), dict.get(b"Parent")) {
            (None, Some(parent)) => self.doc.dict(self.new, parent)?.unwrap_or_default(),
            _ => dict,
        };
        if field.name(b"FT") != Some(b"Sig") {
            return Ok((ChangeLevel::Other, "a form field widget".into()));
        }
        let node = FieldNode {
            reference: None,
            name: String::new(),
            is_signature: true,
            dict: field,
        };
        Ok(match self.signature_value_level(&node)? {
            ChangeLevel::ValidationData => (
                ChangeLevel::ValidationData,
                "a document timestamp widget".into(),
            ),
            level => (level, "a signature widget".into()),
        })
    }

    fn unexplained(&mut self) {
        let left: Vec<String> = self
            .rewritten
            .iter()
            .filter(|(num, _)| !self.explained.contains(num))
            .map(|(num, (old, _))| format!("object {num} ({}) was overwritten", old.describe()))
            .collect();
        for what in left {
            self.note(ChangeLevel::Other, what);
        }
    }
}

/// A rewritten annotation: a widget's appearance state is form filling, anything else
/// an annotation change.
fn annotation_change_level(old: &Object, new: &Object) -> ChangeLevel {
    let (Some(old), Some(new)) = (old.as_dict(), new.as_dict()) else {
        return ChangeLevel::Other;
    };
    let widget = old.name(b"Subtype") == Some(b"Widget");
    let keys = differing_keys(old, new);
    if widget
        && keys
            .iter()
            .all(|k| matches!(k.as_slice(), b"AS" | b"AP" | b"V"))
    {
        ChangeLevel::FormFill
    } else if widget {
        ChangeLevel::Other
    } else {
        ChangeLevel::Annotation
    }
}

fn same_opt(a: Option<&Object>, b: Option<&Object>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_value(a, b),
        (None, None) => true,
        _ => false,
    }
}
