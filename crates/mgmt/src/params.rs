//! The business parameters of one call (query and form body merged, protocol keys removed).

use crate::error::ApiError;
use apigw_model::Stage;

pub struct Params {
    items: Vec<(String, String)>,
}

impl Params {
    pub fn new(items: Vec<(String, String)>) -> Params {
        Params { items }
    }

    /// The value of `name` (the last one wins: the form body overrides the query).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A value that is present and not blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(
                name,
                format!("`{v}` is not true or false"),
            )),
        }
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::invalid(name, format!("`{v}` is not a number")))
            })
            .transpose()
    }

    pub fn required_i64(&self, name: &str) -> Result<i64, ApiError> {
        self.i64(name)?.ok_or_else(|| ApiError::missing(name))
    }

    pub fn stage(&self, name: &str) -> Result<Stage, ApiError> {
        let v = self.required(name)?;
        Stage::parse(v.trim().as_bytes())
            .ok_or_else(|| ApiError::invalid(name, format!("`{v}` is not RELEASE, PRE or TEST")))
    }

    pub fn opt_stage(&self, name: &str) -> Result<Option<Stage>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(_) => self.stage(name).map(Some),
        }
    }

    /// A comma-separated list (`ApiIds=a,b`, `AppIds=1,2`), at most 100 items.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let items: Vec<String> = self
            .required(name)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(ApiError::missing(name));
        }
        if items.len() > 100 {
            return Err(ApiError::invalid(name, "at most 100 items"));
        }
        Ok(items)
    }

    /// `PageNumber` (default 1) and `PageSize` (default 10, at most 100).
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let number = self.i64("PageNumber")?.unwrap_or(1);
        let size = self.i64("PageSize")?.unwrap_or(10);
        if number < 1 {
            return Err(ApiError::invalid("PageNumber", "must be 1 or more"));
        }
        if !(1..=100).contains(&size) {
            return Err(ApiError::invalid("PageSize", "must be 1..100"));
        }
        Ok((number as usize, size as usize))
    }
}

/// One page of `items` and the paging members of the response.
pub fn paged<T: Clone>(items: &[T], (number, size): (usize, usize)) -> (Vec<T>, serde_json::Value) {
    let start = (number - 1).saturating_mul(size).min(items.len());
    let end = (start + size).min(items.len());
    (
        items[start..end].to_vec(),
        serde_json::json!({"PageNumber": number, "PageSize": size, "TotalCount": items.len()}),
    )
}
