//! Every diagnostic code, with a one-line summary. `docs/diagnostics.md`
//! explains each, and `tests/fixtures/invalid/` holds a program for each.

macro_rules! codes {
    ($($name:ident = $code:literal : $summary:literal;)*) => {
        $(#[doc = $summary] pub const $name: &str = $code;)*
        /// `(code, summary)` for every code.
        pub const ALL: &[(&str, &str)] = &[$(($code, $summary)),*];
    };
}

codes! {
    SYNTAX = "rbk::syntax": "The text does not follow the grammar.";
    INVALID_LITERAL = "rbk::invalid_literal": "A number, duration, escape or string literal is malformed or out of range.";
    IO = "rbk::io": "A file could not be read.";
    FILE_REFUSED = "rbk::file_refused": "A file named by an import, file() or bytes() is outside the file root, not a regular file, or too large.";
    IMPORT_CYCLE = "rbk::import_cycle": "Files import each other in a cycle.";
    INVALID_IMPORT = "rbk::invalid_import": "An import path is not a plain string.";
    DUPLICATE_DEFINITION = "rbk::duplicate_definition": "A name is defined twice where it must be unique.";
    UNKNOWN_INTEGRATION = "rbk::unknown_integration": "No integration has this name.";
    UNKNOWN_METHOD = "rbk::unknown_method": "The integration has no method with this name.";
    UNKNOWN_RUNBOOK = "rbk::unknown_runbook": "No runbook has this name.";
    UNKNOWN_NAME = "rbk::unknown_name": "No variable, parameter or step has this name here.";
    UNKNOWN_FIELD = "rbk::unknown_field": "The value has no field with this name.";
    UNKNOWN_FUNCTION = "rbk::unknown_function": "No built-in function has this name.";
    UNKNOWN_TYPE = "rbk::unknown_type": "No type has this name.";
    UNKNOWN_INSTANCE = "rbk::unknown_instance": "No instance has this name.";
    UNKNOWN_SETTING = "rbk::unknown_setting": "A block has a key it does not take.";
    MISSING_SETTING = "rbk::missing_setting": "A block lacks a key it needs.";
    INVALID_SETTING = "rbk::invalid_setting": "A setting has a value of the wrong kind.";
    UNKNOWN_AUTH_KIND = "rbk::unknown_auth_kind": "No authorization kind has this name.";
    AUTH_MISSING_FIELD = "rbk::auth_missing_field": "An auth block lacks a field its kind needs.";
    AUTH_UNKNOWN_FIELD = "rbk::auth_unknown_field": "An auth block has a field its kind does not take.";
    PER_INSTANCE_INCOMPLETE = "rbk::per_instance_incomplete": "per_instance does not cover every declared instance.";
    MISSING_ARGUMENT = "rbk::missing_argument": "A call does not pass a required parameter.";
    UNKNOWN_ARGUMENT = "rbk::unknown_argument": "A call passes a parameter that does not exist.";
    DUPLICATE_ARGUMENT = "rbk::duplicate_argument": "A call passes the same parameter twice.";
    WRONG_ARITY = "rbk::wrong_arity": "A built-in function is called with the wrong number of arguments.";
    TYPE_MISMATCH = "rbk::type_mismatch": "A value has a type that does not fit where it is used.";
    CONDITION_NOT_BOOL = "rbk::condition_not_bool": "A condition is not a bool.";
    UNBOUND_STEP = "rbk::unbound_step": "A step is read where it may not have run.";
    UNBOUND_OUTPUT = "rbk::unbound_output": "A step output is read where the step may not have succeeded.";
    UNBOUND_VARIABLE = "rbk::unbound_variable": "A variable is read where it may not be bound.";
    ASSIGN_IMMUTABLE = "rbk::assign_immutable": "A `let`, parameter, step or loop variable is assigned; only a `var` changes.";
    PARALLEL_ASSIGN = "rbk::parallel_assign": "An outer `var` is assigned inside `for ... parallel` or a `parallel` branch.";
    SHADOWED_IN_LOOP = "rbk::shadowed_in_loop": "A `let` or `var` in a loop hides a name from outside the loop.";
    UNREACHABLE = "rbk::unreachable": "A statement can never run.";
    UNBOUNDED_LOOP = "rbk::unbounded_loop": "A polling loop has no `max`.";
    RESERVED_OUTPUT = "rbk::reserved_output": "An output takes a name every step result already has.";
    PATH_PLACEHOLDER = "rbk::path_placeholder": "A `{name}` in a request path is not a parameter.";
    BODY_NOT_ALLOWED = "rbk::body_not_allowed": "A GET or HEAD request has a body.";
    MISSING_REQUEST = "rbk::missing_request": "A method has no request line such as `GET \"/path\"`.";
    INVALID_JSONPATH = "rbk::invalid_jsonpath": "A JSONPath query is malformed.";
    INVALID_XPATH = "rbk::invalid_xpath": "An XPath expression is malformed, not a plain string, or uses an undeclared namespace prefix.";
    MISPLACED_CALL = "rbk::misplaced_call": "A method is called outside a step or a `for` over its pages.";
    MISPLACED_RESPONSE_VALUE = "rbk::misplaced_response_value": "`$`, `status`, `header()`, `body` or `json` is used outside a method's outputs.";
    MISPLACED_RAW = "rbk::misplaced_raw": "`raw(...)` is used outside an interpolation of a `body xml` string.";
    INVALID_PATTERN = "rbk::invalid_pattern": "An else-arm pattern is not a valid HTTP status or range.";
    HARDCODED_SECRET = "rbk::hardcoded_secret": "A credential is written into the file instead of read with secret().";
    SECRET_LEAK = "rbk::secret_leak": "A secret flows into a log, a failure message or a runbook result.";
    INSECURE_TLS = "rbk::insecure_tls": "Certificate verification is turned off.";
    MISSING_FILE = "rbk::missing_file": "A file named by file() or bytes() does not exist.";
}

/// A runbook or call failed at run time (not a `check` diagnostic).
pub const RUN_FAILED: &str = "rbk::run_failed";
