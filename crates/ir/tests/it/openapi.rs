//! The OpenAPI front end: 3.0 and 3.1 (webhooks), Swagger 2.0, YAML merge keys, `$ref`s, and
//! where its nodes are located in the text.

use expect_test::expect_file;
use l9_ir::NodeKind;

use crate::{compile_fixture, dump};

#[test]
fn openapi_yaml_snapshot() {
    expect_file!["snapshots/openapi_yaml.txt"].assert_eq(&dump(&compile_fixture("notes-api.yaml")));
}

#[test]
fn openapi_json_snapshot() {
    expect_file!["snapshots/openapi_json.txt"].assert_eq(&dump(&compile_fixture("pets.json")));
}

#[test]
fn swagger_2_snapshot() {
    let c = compile_fixture("store-swagger2.yaml");
    expect_file!["snapshots/swagger2.txt"].assert_eq(&dump(&c));
    let ifaces: Vec<_> = c.ir.nodes.iter().filter_map(|n| n.interface.as_ref()).collect();
    // The body parameter is the request, not a parameter; a form makes an object body.
    assert_eq!(ifaces[0].request.as_deref(), Some("Order"));
    assert_eq!(ifaces[0].parameters.len(), 1);
    assert_eq!(ifaces[0].responses.get("400").map(String::as_str), Some("Error"));
    assert_eq!(ifaces[1].parameters[0].schema.as_deref(), Some("string"));
    assert_eq!(ifaces[2].request.as_deref(), Some("object"));
    assert_eq!(ifaces[2].parameters[1].schema.as_deref(), Some("string[]"));
    let constraints: Vec<&str> =
        c.ir.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Constraint)
            .map(|n| n.text.as_str())
            .collect();
    assert_eq!(
        constraints,
        [
            "Requests authenticate with `basicAuth`: HTTP basic authentication",
            "Requests authenticate with `key`: an API key in the header `X-Key`",
            "Requests authenticate with `oauth`: OAuth 2.0 (accessCode)",
        ]
    );
    let missing = c.diagnostics.iter().find(|d| d.code == "L9-IR-013").unwrap();
    assert!(missing.help.as_deref().unwrap_or("").contains("securityDefinitions"));
}

#[test]
fn openapi_top_level_keys_are_found_where_they_are_written() {
    // `tags` of an operation come before the document's own `tags` (as in Twilio's files);
    // each tag component is where its name is written, not at the operation's.
    let yaml = [
        "openapi: 3.0.0",
        "components:",
        "  schemas:",
        "    S:",
        "      title: Schema title",
        "paths:",
        "  /a:",
        "    get:",
        "      tags:",
        "      - A",
        "      parameters:",
        "      - name: q",
        "        in: query",
        "      responses: {}",
        "info:",
        "  title: T",
        "tags:",
        "- name: A",
        "- name: B",
    ]
    .join("\n");
    let json_doc = r#"{"openapi": "3.0.0", "components": {"schemas": {"S": {"title": "Schema title"}}},
"paths": {"/a": {"get": {"tags": ["A"], "parameters": [{"name": "q", "in": "query"}], "responses": {}}}},
"info": {"title": "T"},
"tags": [{"name": "A"},
 {"name": "B"}]}"#;
    for (file, text, lines) in [("t.yaml", yaml.as_str(), [18, 19]), ("t.json", json_doc, [4, 5])] {
        let c = l9_ir::compile(file, text, None);
        let got: Vec<(&str, u32)> =
            c.ir.nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Component)
                .map(|n| (n.text.as_str(), n.span.line))
                .collect();
        assert_eq!(got, [("A", lines[0]), ("B", lines[1])], "{file}");
        let goal = c.ir.nodes.iter().find(|n| n.kind == NodeKind::Goal).unwrap();
        assert_eq!(goal.span.line, if file == "t.yaml" { 16 } else { 3 }, "{file}");
    }
}

#[test]
fn openapi_paths_are_located_each_at_its_own_key() {
    // Paths are located in one pass; a `:` inside an unquoted YAML key (Google's custom
    // methods) does not end it, and quoted keys are found too.
    let yaml = [
        "openapi: 3.0.0",
        "info: {title: T}",
        "paths:",
        "  /v1/{name}:cancel:",
        "    post: {responses: {}}",
        "  '/v1/{name}':",
        "    get: {responses: {}}",
        "  /v1/items:",
        "    get: {responses: {}}",
    ]
    .join("\n");
    let c = l9_ir::compile("g.yaml", &yaml, None);
    let mut got: Vec<(&str, u32)> =
        c.ir.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Interface)
            .map(|n| (n.text.as_str(), n.span.line))
            .collect();
    got.sort();
    assert_eq!(got, [("GET /v1/items", 9), ("GET /v1/{name}", 7), ("POST /v1/{name}:cancel", 5)]);
}

#[test]
fn openapi_yaml_merge_keys_are_applied() {
    let yaml = "openapi: 3.0.0\ninfo: {title: M}\nx-common: &common\n  responses:\n    \"200\": {description: OK}\n\
                paths:\n  /a:\n    get:\n      <<: *common\n      summary: Get A\n";
    let c = l9_ir::compile("m.yaml", yaml, None);
    let i = c.ir.nodes.iter().find_map(|n| n.interface.as_ref()).unwrap();
    assert_eq!(i.responses.get("200").map(String::as_str), Some("-"), "{i:?}");
}

#[test]
fn openapi_3_1_webhooks_are_interfaces() {
    let c = compile_fixture("webhooks-3.1.json");
    expect_file!["snapshots/webhooks.txt"].assert_eq(&dump(&c));
    assert!(c.diagnostics.iter().all(|d| d.code != "L9-IR-014"), "{:?}", c.diagnostics);
}

#[test]
fn openapi_errors_name_the_place() {
    let c = l9_ir::compile("bad.json", "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}", None);
    let d = &c.diagnostics[0];
    assert_eq!((d.code.as_str(), d.span.as_ref().unwrap().line), ("L9-IR-010", 3));
    let c = l9_ir::compile("bad.yaml", "openapi: 3.0.0\npaths:\n  /a: [\n", None);
    assert_eq!(c.diagnostics[0].code, "L9-IR-010");
    let c = l9_ir::compile("old.json", "{\"swagger\": \"1.2\"}", None);
    assert_eq!(c.diagnostics[0].code, "L9-IR-011");
    assert!(c.diagnostics[0].message.contains("Swagger 1.2"), "{}", c.diagnostics[0].message);
}

#[test]
fn openapi_refs_resolve_and_cycles_end() {
    let c = compile_fixture("pets.json");
    let get = c.ir.nodes.iter().find(|n| n.kind == NodeKind::Interface).unwrap();
    let i = get.interface.as_ref().unwrap();
    assert_eq!(i.responses.get("200").map(String::as_str), Some("Cat | Dog"));
    assert_eq!(i.parameters[0].schema.as_deref(), Some("string | null"));
    // Missing → Missing is a cycle: tolerated, the response keeps no body.
    assert_eq!(i.responses.get("404").map(String::as_str), Some("-"));
}

#[test]
fn requirements_stated_in_descriptions_are_requirements() {
    let src = "openapi: 3.0.3\ninfo:\n  title: Orders\n  version: '1'\n  description: |\n    \
        Orders for the shop. Clients **must** authenticate with OAuth 2.\n    \
        The response will contain the order.\npaths:\n  /orders/{id}:\n    delete:\n      \
        operationId: deleteOrder\n      description: Deletes an order. The order must not be shipped.\n      \
        parameters:\n        - {name: id, in: path, required: true, description: Must be a UUID., schema: {type: string}}\n      \
        responses:\n        '204': {description: Deleted}\n";
    let c = l9_ir::compile("o.yaml", src, None);
    let reqs: Vec<(&str, Option<l9_ir::Strength>, u32)> =
        c.ir.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Requirement)
            .map(|n| (n.text.as_str(), n.strength, n.span.line))
            .collect();
    assert_eq!(
        reqs,
        [
            ("Clients must authenticate with OAuth 2.", Some(l9_ir::Strength::Must), 5),
            ("The order must not be shipped.", Some(l9_ir::Strength::MustNot), 10),
        ]
    );
    let iface = c.ir.nodes.iter().find(|n| n.kind == NodeKind::Interface).unwrap();
    let shipped = c.ir.nodes.iter().find(|n| n.text.contains("shipped")).unwrap();
    assert!(c.ir.edges.iter().any(|e| e.from == iface.id
        && e.to == shipped.id
        && e.kind == l9_ir::EdgeKind::Implements));
}

/// Files held in memory, named as the loader is asked for them.
#[derive(Debug)]
struct Files(Vec<(&'static str, &'static str)>);

impl l9_ir::RefLoader for Files {
    fn load(&self, path: &str) -> Result<String, String> {
        self.0
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, text)| (*text).to_string())
            .ok_or_else(|| format!("{path}: no such file"))
    }
}

#[test]
fn refs_to_other_files_are_read_through_the_loader() {
    let spec = "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\npaths:\n  /pets:\n    \
        $ref: './paths/pets.yaml'\n  /owners:\n    get:\n      parameters:\n        \
        - $ref: '../common/params.json#/parameters/ApiVersion'\n      responses:\n        \
        '200': {$ref: 'https://example.com/r.yaml#/Ok'}\n        \
        '404': {$ref: 'missing.yaml#/NotFound'}\n        \
        '500': {$ref: 'schemas/pet.yaml#/NoSuchThing'}\n";
    let files = Files(vec![
        // A path item in its own file: its `#/…` are its own, its `../` from its directory.
        (
            "paths/pets.yaml",
            "get:\n  description: Lists pets. Results must be sorted by name.\n  responses:\n    \
             '200': {$ref: '#/components/responses/Pets'}\npost:\n  requestBody:\n    \
             $ref: '../bodies/new.yaml'\n  \
             responses: {'201': {description: Created}}\ncomponents:\n  responses:\n    \
             Pets:\n      description: pets\n      content:\n        application/json:\n          \
             schema: {type: array, items: {$ref: '../schemas/pet.yaml#/Pet'}}\n",
        ),
        // A request body two directories over, naming its schema relative to itself.
        (
            "bodies/new.yaml",
            "content: {application/json: {schema: {$ref: '../schemas/new-pet.yaml'}}}\n",
        ),
        // Schemas that refer to each other across files, in a cycle.
        (
            "schemas/pet.yaml",
            "Pet:\n  type: object\n  properties:\n    kin: {$ref: 'new-pet.yaml'}\n",
        ),
        ("schemas/new-pet.yaml", "type: object\nproperties:\n  like: {$ref: 'pet.yaml#/Pet'}\n"),
        (
            "../common/params.json",
            r#"{"parameters": {"ApiVersion": {"name": "api-version", "in": "query", "required": true, "schema": {"type": "string"}}}}"#,
        ),
    ]);
    let c =
        l9_ir::compile_loading("api.yaml", spec, None, &l9_ir::Classifier::default(), Some(&files));
    let ifaces: Vec<(String, &l9_ir::InterfaceDetail)> =
        c.ir.nodes.iter().filter_map(|n| Some((n.text.clone(), n.interface.as_ref()?))).collect();
    let [(_, owners), (get, list), (_, create)] = &ifaces[..] else { panic!("{ifaces:?}") };
    assert!(get.starts_with("GET /pets"), "{get}");
    assert_eq!(list.responses.get("200").map(String::as_str), Some("Pet[]"));
    assert_eq!(create.request.as_deref(), Some("new-pet"));
    assert_eq!(owners.parameters[0].name, "api-version");
    assert_eq!(owners.parameters[0].schema.as_deref(), Some("string"));
    // A requirement stated in a path file's operation is read.
    assert!(c.ir.nodes.iter().any(|n| n.kind == NodeKind::Requirement
        && n.text == "Results must be sorted by name."));
    // What could not be read is a warning at the `$ref` as written, saying why.
    let warned: Vec<(u32, &str)> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == "L9-IR-012")
        .map(|d| (d.span.as_ref().unwrap().line, d.message.as_str()))
        .collect();
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert!(warned[0].0 == 11 && warned[0].1.contains("remote references are not fetched"));
    assert!(warned[1].0 == 12 && warned[1].1.contains("missing.yaml: no such file"));
    assert!(warned[2].0 == 13 && warned[2].1.contains("has no `/NoSuchThing`"), "{warned:?}");

    // Without a loader (spec text sent to the API) the other files are named, not read.
    let c = l9_ir::compile("api.yaml", spec, None);
    let first = c.diagnostics.iter().find(|d| d.code == "L9-IR-012").unwrap();
    assert!(first.message.contains("read only when the spec is compiled from a file"));
}

/// An operation's callbacks are the requests the API sends back: interfaces of the
/// operation's component, not guarded by the API's own security.
#[test]
fn callbacks_are_interfaces_of_their_operation() {
    let src = "openapi: 3.0.3\ninfo: {title: Hooks, version: '1'}\nsecurity: [{key: []}]\n\
        components:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\n\
        paths:\n  /subscriptions:\n    post:\n      tags: [subscriptions]\n      \
        responses: {'201': {description: Subscribed}}\n      callbacks:\n        onEvent:\n          \
        '{$request.body#/callbackUrl}':\n            post:\n              summary: An event happened\n              \
        requestBody: {content: {application/json: {schema: {type: object}}}}\n              \
        responses: {'200': {description: Received}}\n";
    let c = l9_ir::compile("hooks.yaml", src, None);
    let ifaces: Vec<&l9_ir::Node> =
        c.ir.nodes.iter().filter(|n| n.kind == NodeKind::Interface).collect();
    assert_eq!(ifaces.len(), 2, "{ifaces:?}");
    let cb = ifaces[1];
    assert_eq!(cb.text, "POST callback onEvent {$request.body#/callbackUrl}: An event happened");
    assert_eq!(cb.span.line, 15, "at the callback's own `post`");
    let component = |id: &str| {
        c.ir.edges
            .iter()
            .find(|e| e.from == id && e.kind == l9_ir::EdgeKind::Refines)
            .unwrap()
            .to
            .clone()
    };
    assert_eq!(component(&cb.id), component(&ifaces[0].id));
    let guarded =
        |id: &str| c.ir.edges.iter().any(|e| e.to == id && e.kind == l9_ir::EdgeKind::Constrains);
    assert!(guarded(&ifaces[0].id) && !guarded(&cb.id));
    assert!(
        c.ir.nodes.iter().any(|n| n.text.starts_with("POST callback onEvent")
            && n.kind == NodeKind::AcceptanceCriterion)
    );
}

/// Azure's `x-ms-paths` (paths told apart by their query string) are paths too.
#[test]
fn azure_x_ms_paths_are_paths() {
    let src = r#"{"swagger": "2.0", "info": {"title": "Storage", "version": "1"},
        "paths": {"/{container}": {"put": {"operationId": "Create", "responses": {"201": {"description": "Created"}}}}},
        "x-ms-paths": {"/{container}?restype=acl": {"put": {"operationId": "SetAcl", "responses": {"200": {"description": "Set"}}}}}}"#;
    let c = l9_ir::compile("storage.json", src, None);
    let ifaces: Vec<&str> =
        c.ir.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Interface)
            .map(|n| n.text.as_str())
            .collect();
    assert_eq!(ifaces, ["PUT /{container}: Create", "PUT /{container}?restype=acl: SetAcl"]);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    // An operation marked deprecated says so; the others carry no mark.
    let src = src
        .replace(r#""operationId": "SetAcl","#, r#""operationId": "SetAcl", "deprecated": true,"#);
    let c = l9_ir::compile("storage.json", &src, None);
    let marked: Vec<bool> =
        c.ir.nodes.iter().filter_map(|n| n.interface.as_ref()).map(|i| i.deprecated).collect();
    assert_eq!(marked, [false, true]);
}

/// A `$ref` is a URI: a fragment written percent-encoded (`%7Bid%7D` for `{id}`, as APIs.guru's
/// Brex description writes its references to responses) names the same place.
#[test]
fn percent_encoded_ref_fragments_resolve() {
    let src = r##"{"openapi": "3.0.0", "info": {"title": "Co", "version": "1"}, "paths": {
      "/company/{id}": {"get": {"responses": {"200": {"description": "The company",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Company"}}}}}}},
      "/company/{id}/copy": {"get": {"responses": {
          "200": {"$ref": "#/paths/~1company~1%7Bid%7D/get/responses/200"}}}}},
      "components": {"schemas": {"Company": {"type": "object"}}}}"##;
    let c = l9_ir::compile("co.json", src, None);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    // (A description without operations is told so in its own terms.)
    let empty = l9_ir::compile(
        "e.json",
        r#"{"openapi": "3.0.0", "info": {"title": "E"}, "paths": {}}"#,
        None,
    );
    let f = l9_ir::validate::validate(&empty.ir);
    assert!(f.iter().any(|f| f.code == "L9-VAL-001" && f.fix.contains("`paths`")), "{f:?}");
    let copy =
        c.ir.nodes.iter().find_map(|n| n.interface.as_ref().filter(|i| i.path.ends_with("copy")));
    assert_eq!(copy.unwrap().responses.get("200").map(String::as_str), Some("Company"));
}
