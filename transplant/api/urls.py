"""API endpoints of the transplant app (see ../shared/API.md): /api/v1/transplant/..."""

from rest_framework.routers import SimpleRouter

from transplant.api import views

router = SimpleRouter()
router.register("transplant/centres", views.CentreViewSet, basename="api-tx-centre")
router.register("transplant/patients", views.PatientViewSet, basename="api-tx-patient")
router.register("transplant/typing-requests", views.TypingRequestViewSet, basename="api-tx-typing")
router.register("transplant/reservations", views.ReservationViewSet, basename="api-tx-reservation")
router.register("transplant/orders", views.OrderViewSet, basename="api-tx-order")
router.register("transplant/follow-ups", views.FollowUpViewSet, basename="api-tx-follow-up")
router.register("transplant/adverse-events", views.AdverseEventViewSet, basename="api-tx-adverse-event")

urlpatterns = [*router.urls]
