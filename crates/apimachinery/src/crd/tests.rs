use serde_json::json;

use super::*;

fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com", "uid": "u1", "resourceVersion": "7"},
        "spec": {
            "group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                 "subresources": {"status": {}, "scale": {
                     "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1alpha1", "served": false, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]
        }
    })
}

#[test]
fn a_crd_serves_one_resource_per_served_version() {
    let mut crd = crontab_crd();
    default_crd(&mut crd);
    assert!(validate_crd(&crd).is_empty(), "{:?}", validate_crd(&crd));
    let names = Names::of(&crd);
    assert_eq!(
        (names.singular.as_str(), names.list_kind.as_str()),
        ("crontab", "CronTabList")
    );
    let infos = resources(&crd, &names);
    let versions: Vec<&str> = infos.iter().map(|i| i.version.as_str()).collect();
    assert_eq!(versions, vec!["v1", "v1beta1"]);
    let v1 = &infos[0];
    assert_eq!(v1.storage_prefix(), "/registry/stable.example.com/crontabs");
    assert_eq!(v1.short_names, vec!["ct"]);
    assert!(v1.subresource("status").is_some() && v1.subresource("scale").is_some());
    let custom = v1.custom.as_ref().expect("custom");
    assert_eq!(custom.storage_version, "v1");
    assert_eq!(custom.columns.len(), 1);
    assert!(infos[1].subresources.is_empty());
}

#[test]
fn invalid_crds_name_their_fields() {
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("wrong.example.com");
    crd["spec"]["scope"] = json!("Galaxy");
    crd["spec"]["versions"][1]["storage"] = json!(true);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["type"] = json!("array");
    let fields: Vec<String> = validate_crd(&crd).into_iter().map(|c| c.field).collect();
    assert!(fields.contains(&"metadata.name".to_string()), "{fields:?}");
    assert!(fields.contains(&"spec.scope".to_string()), "{fields:?}");
    assert!(fields.contains(&"spec.versions".to_string()), "{fields:?}");
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("spec.versions[0].schema.openAPIV3Schema")),
        "{fields:?}"
    );
}

#[test]
fn conditions_keep_their_transition_time_while_unchanged() {
    let mut conds = Vec::new();
    assert!(set_condition(
        &mut conds,
        condition("Established", true, "InitialNamesAccepted", "ok", "t1")
    ));
    assert!(!set_condition(
        &mut conds,
        condition("Established", true, "InitialNamesAccepted", "ok", "t2")
    ));
    assert_eq!(conds[0]["lastTransitionTime"], json!("t1"));
    assert!(set_condition(
        &mut conds,
        condition("Established", false, "Gone", "no", "t3")
    ));
    assert_eq!(conds[0]["lastTransitionTime"], json!("t3"));
    assert_eq!(conds.len(), 1);
}
