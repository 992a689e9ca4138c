"""Pages of the transplant app."""

from django.urls import path

from transplant import views

app_name = "transplant"
urlpatterns = [
    path("", views.index, name="index"),
    path("patients/", views.patients, name="patients"),
    path("patients/new/", views.patient_new, name="patient-new"),
    path("patients/<int:pk>/", views.patient, name="patient"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<int:pk>/typing/", views.patient_typing, name="patient-typing"),
    path("patients/<int:pk>/reserve/", views.patient_reserve, name="patient-reserve"),
    path("reservations/<int:pk>/order/", views.reservation_order, name="reservation-order"),
    path("reservations/<int:pk>/cancel/", views.reservation_cancel, name="reservation-cancel"),
    path("typing/", views.typing_list, name="typing-list"),
    path("typing/<int:pk>/", views.typing, name="typing"),
    path("typing/<int:pk>/complete/", views.typing_complete, name="typing-complete"),
    path("typing/<int:pk>/cancel/", views.typing_cancel, name="typing-cancel"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:pk>/", views.order, name="order"),
    path("orders/<int:pk>/release/", views.order_release, name="order-release"),
    path("orders/<int:pk>/acknowledge/", views.order_acknowledge, name="order-acknowledge"),
    path("orders/<int:pk>/ship/", views.order_ship, name="order-ship"),
    path("orders/<int:pk>/receive/", views.order_receive, name="order-receive"),
    path("orders/<int:pk>/thaw-report/", views.order_thaw, name="order-thaw"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("orders/<int:pk>/logs/<int:log_pk>/", views.temperature_log, name="temperature-log"),
    path("orders/<int:pk>/adverse-events/", views.order_adverse_event, name="order-adverse-event"),
    path("orders/<int:pk>/adverse-events/<int:event_pk>/recall/", views.adverse_event_link,
         name="adverse-event-recall"),
    path("follow-ups/", views.follow_ups, name="follow-ups"),
    path("follow-ups/<int:pk>/", views.follow_up, name="follow-up"),
    path("centres/", views.centres, name="centres"),
    path("centres/new/", views.centre_new, name="centre-new"),
    path("centres/<int:pk>/", views.centre, name="centre"),
    path("centres/<int:pk>/clinicians/", views.centre_link, name="centre-link"),
    path("centres/<int:pk>/clinicians/<int:link_pk>/unlink/", views.centre_unlink, name="centre-unlink"),
    path("dry-shippers/", views.shippers, name="shippers"),
    path("dry-shippers/new/", views.shipper_new, name="shipper-new"),
    path("dry-shippers/<int:pk>/", views.shipper, name="shipper"),
]
