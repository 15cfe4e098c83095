//! The pooled client for code that does not run on tokio (the CLI): each
//! call blocks on a current-thread runtime the client owns.

use std::io::Write;

use crate::{Answer, Error, Request};

pub struct Client {
    runtime: tokio::runtime::Runtime,
    client: crate::Client,
}

impl Client {
    pub fn new() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Client {
            runtime,
            client: crate::Client::new(),
        })
    }

    /// [`crate::Client::send`], blocking.
    pub fn send(&self, request: Request) -> Result<Answer, Error> {
        self.runtime.block_on(self.client.send(request))
    }

    /// [`crate::Client::download`], blocking.
    pub fn download(
        &self,
        request: Request,
        into: &mut (dyn Write + Send),
    ) -> Result<Answer, Error> {
        self.runtime.block_on(self.client.download(request, into))
    }
}
