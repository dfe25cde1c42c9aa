-- Gemini (issue 11): AI-edited variants beside the engine's, their guardrail, the photo's AI analysis, and
-- what each AI call cost.
--   product_images.ai_generated     the image came from Gemini (also said in its XMP);
--   product_images.needs_attention  the guardrail judged it may no longer show the same product: kept, shown
--                                   as such, never chosen automatically;
--   product_images.guardrail        the measured figures behind that judgement;
--   product_originals.ai_analysis   the photo's validated analysis, with the model that made it;
--   product_originals.ai_claimed_until  a delivery running the photo's AI step holds it until then: a second
--                                   delivery of the same message finds it taken and calls Gemini for nothing;
--   enhancement_history.token_usage the tokens an AI call used (its model version and response id go in
--                                   model_version and external_response_id, its latency in processing_ms);
--   enhancement_history.details     what an AI call answered or measured: the analysis, the guardrail's figures.
ALTER TABLE product_images
  ADD COLUMN ai_generated BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN needs_attention BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN guardrail JSON NULL;

ALTER TABLE product_originals
  ADD COLUMN ai_analysis JSON NULL,
  ADD COLUMN ai_claimed_until DATETIME(3) NULL;

ALTER TABLE enhancement_history
  ADD COLUMN token_usage JSON NULL,
  ADD COLUMN details JSON NULL;
