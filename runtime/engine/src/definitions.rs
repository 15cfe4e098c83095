//! Registered workflow definitions: parsed, validated and stored by version;
//! the one new instances of an id start with.

use super::*;

impl Engine {
    /// Parses, validates and registers a definition from its source text;
    /// it becomes the version new instances of its id start with.
    pub fn register(
        &self,
        source: &str,
        file_name: Option<&str>,
        known_functions: KnownFunctions<'_>,
    ) -> Result<Arc<Workflow>, EngineError> {
        let workflow = self.prepare(source, file_name, known_functions)?;
        write(&self.inner.workflows).insert(workflow.id().to_string(), workflow.clone());
        self.reschedule(workflow.id());
        Ok(workflow)
    }

    /// Parses, validates and stores a definition as a version, without
    /// making it the one new instances start with ([`Engine::activate`] does).
    pub fn prepare(
        &self,
        source: &str,
        file_name: Option<&str>,
        known_functions: KnownFunctions<'_>,
    ) -> Result<Arc<Workflow>, EngineError> {
        let loaded =
            workflow::parse(source, file_name, known_functions).map_err(EngineError::Definition)?;
        let version = hex(&Sha256::digest(source.as_bytes()))[..16].to_string();
        self.inner
            .store
            .put_definition(&version, &definition_blob(source, file_name))?;
        let mut workflow = Workflow::new(loaded.definition, version.clone())
            .ok_or_else(|| EngineError::Definition(Diagnostics::default()))?;
        workflow.secrets = self.secrets().stand_ins(&workflow.definition.secrets);
        let workflow = Arc::new(workflow);
        write(&self.inner.versions).insert(version, workflow.clone());
        Ok(workflow)
    }

    /// Makes a stored definition version the one new instances of its id
    /// start with (restoring a server's deployments after a restart).
    pub fn activate(&self, version: &str) -> Result<Arc<Workflow>, EngineError> {
        let workflow = self.workflow_version(version)?;
        write(&self.inner.workflows).insert(workflow.id().to_string(), workflow.clone());
        self.reschedule(workflow.id());
        Ok(workflow)
    }

    /// Stops starting instances of workflow `id`, by call or by event;
    /// running instances finish on their version. False when it is not registered.
    pub fn unregister(&self, id: &str) -> bool {
        let removed = write(&self.inner.workflows).remove(id).is_some();
        self.reschedule(id);
        removed
    }

    /// The definitions new instances start with, by id.
    pub fn workflows(&self) -> BTreeMap<String, Arc<Workflow>> {
        read(&self.inner.workflows)
            .iter()
            .map(|(id, workflow)| (id.clone(), workflow.clone()))
            .collect()
    }

    /// The current version of each function `workflow` calls; functions
    /// not deployed now are left out and fail when called, as before.
    pub(crate) fn pin_functions(&self, workflow: &Workflow) -> BTreeMap<String, String> {
        self.inner
            .invoker
            .current_versions(&mut workflow.function_resources())
    }

    /// Ids of the registered workflows, sorted.
    pub fn workflow_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = read(&self.inner.workflows).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Whether workflow `id` is a 1.0 document (its data may be any JSON).
    pub fn is_v10(&self, id: &str) -> bool {
        read(&self.inner.workflows).get(id).is_some_and(|w| {
            w.definition.expression_language == swirl_workflow::model::ExpressionLanguage::Jq
        })
    }

    pub(crate) fn workflow(&self, id: &str) -> Result<Arc<Workflow>, EngineError> {
        read(&self.inner.workflows)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::UnknownWorkflow(id.to_string()))
    }

    /// The source text a definition version was registered from, as
    /// written (JSON or YAML, either dialect), and its file name.
    pub fn definition_source(
        &self,
        version: &str,
    ) -> Result<(Option<String>, String), EngineError> {
        let blob = self
            .inner
            .store
            .definition(version)?
            .ok_or_else(|| EngineError::UnknownWorkflow(format!("version {version}")))?;
        Ok(split_definition_blob(&blob))
    }

    /// The definition an instance started with, loading it from the store
    /// after a restart.
    pub(crate) fn workflow_version(&self, version: &str) -> Result<Arc<Workflow>, EngineError> {
        if let Some(workflow) = read(&self.inner.versions).get(version) {
            return Ok(workflow.clone());
        }
        let blob = self
            .inner
            .store
            .definition(version)?
            .ok_or_else(|| EngineError::UnknownWorkflow(format!("version {version}")))?;
        let (file_name, source) = split_definition_blob(&blob);
        let loaded = workflow::parse(&source, file_name.as_deref(), KnownFunctions::Unchecked)
            .map_err(EngineError::Definition)?;
        let mut workflow = Workflow::new(loaded.definition, version.to_string())
            .ok_or_else(|| EngineError::Definition(Diagnostics::default()))?;
        workflow.secrets = self.secrets().stand_ins(&workflow.definition.secrets);
        let workflow = Arc::new(workflow);
        write(&self.inner.versions).insert(version.to_string(), workflow.clone());
        Ok(workflow)
    }
}

pub(crate) fn definition_blob(source: &str, file_name: Option<&str>) -> Vec<u8> {
    let mut blob = file_name.unwrap_or("").as_bytes().to_vec();
    blob.push(0);
    blob.extend_from_slice(source.as_bytes());
    blob
}

pub(crate) fn split_definition_blob(blob: &[u8]) -> (Option<String>, String) {
    match blob.iter().position(|b| *b == 0) {
        Some(split) => {
            let name = String::from_utf8_lossy(&blob[..split]).into_owned();
            let source = String::from_utf8_lossy(&blob[split + 1..]).into_owned();
            ((!name.is_empty()).then_some(name), source)
        }
        None => (None, String::from_utf8_lossy(blob).into_owned()),
    }
}
